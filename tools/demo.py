"""The main job: write the embedded synthetic world, train on it with
tools/train.py, evaluate with tools/test.py, offline, on CPU, in minutes.

    python tools/demo.py [--data-root data/synthetic] [--work-dir work_dirs/demo] [--epochs 8] [--lr 5e-4]

Until the quickstart (with iCAR pre-training) lands, this is the smallest
end-to-end run that exists: the open-vocabulary Mask R-CNN config path (tiny
iCAR Swin, tiny text tower, text-generated cosine head, from random init)
trained on base-class boxes of synthetic colour-shape scenes, evaluated on
base and novel classes with OVCocoMetric, then asked for novel classes by name.
"""
import argparse
import glob
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = osp.join(ROOT, 'tests', 'configs', 'tiny_ov_mask_rcnn.py')


def run(step, script, *args):
    print(f'\n==> {step}: python {osp.relpath(script, ROOT)} {" ".join(map(str, args))}', flush=True)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, script, *map(str, args)], cwd=ROOT, env=env)
    if proc.returncode:
        raise SystemExit(f'{step} failed (exit {proc.returncode}); see the output above.')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--lr', type=float, default=5e-4, help='AdamW learning rate (the config has 1e-4 for real data)')
    parser.add_argument('--train-images', type=int, default=64)
    parser.add_argument('--val-images', type=int, default=16)
    args = parser.parse_args()
    start = time.time()

    from icar_mm.datasets.synthetic import BASE_CLASSES, NOVEL_CLASSES, write_detection_set
    print(f'==> writing synthetic scenes to {args.data_root} (training boxes: base classes only)', flush=True)
    write_detection_set(args.data_root, 'train', num_images=args.train_images, seed=0,
                        label_classes=BASE_CLASSES)
    write_detection_set(args.data_root, 'val', num_images=args.val_images, seed=1)

    data = [f'{loader}_dataloader.dataset.data_root={args.data_root}/' for loader in ('train', 'val', 'test')]
    data += [f'{name}_evaluator.ann_file={args.data_root}/annotations/val.json' for name in ('val', 'test')]
    run('train', osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir', args.work_dir,
        '--cfg-options', f'train_cfg.max_epochs={args.epochs}', f'optim_wrapper.optimizer.lr={args.lr}',
        'default_hooks.logger.interval=8', *data)
    checkpoint = max(glob.glob(osp.join(args.work_dir, 'best_*.pth')), key=osp.getmtime)
    run('test', osp.join(ROOT, 'tools', 'test.py'), CONFIG, checkpoint,
        '--work-dir', osp.join(args.work_dir, 'test'), '--cfg-options', *data)
    images = sorted(glob.glob(osp.join(args.data_root, 'images', 'val', '*.jpg')))[:4]
    out_dir = osp.join(args.work_dir, 'detect')
    run('detect base and novel classes by name', osp.join(ROOT, 'tools', 'detect.py'), CONFIG,
        checkpoint, *images, '--classes', ','.join(BASE_CLASSES[:4] + NOVEL_CLASSES), '--out-dir', out_dir,
        '--score-thr', '0.1')
    print(f'\n==> done in {time.time() - start:.0f} s: checkpoint {checkpoint}, pictures in {out_dir}/vis')


if __name__ == '__main__':
    main()
