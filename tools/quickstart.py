"""The main job: the whole iCAR method on the embedded open-vocabulary world,
offline, on CPU, in minutes.

    python tools/quickstart.py [--work-dir work_dirs/quickstart] [--pretrain-iters 600] [--epochs 8]
                               [--label-only] [--skip-baseline]

1. write the synthetic world: scenes of coloured shapes with boxes, masks and
   captions; training boxes of the 12 base classes only (the 4 novel
   colour-shape classes appear in images and captions, never as box labels);
2. pre-train with the iCAR objective (configs/quickstart/icar-pretrain_*):
   one image encoder, one shared text encoder, image-label + image-text losses;
3. fine-tune the open-vocabulary detector on base boxes from that checkpoint,
   and, for comparison, the same detector without pre-training;
4. evaluate base and novel AP50 (mmdet's OVCocoMetric) and draw detections on
   held-out images with a vocabulary that includes the novel classes;
5. print a summary table.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
PRETRAIN = osp.join(ROOT, 'configs', 'quickstart', 'icar-pretrain_swin-tiny_synthetic.py')
DETECTOR = osp.join(ROOT, 'configs', 'quickstart', 'ov-mask-rcnn_icar-swin-tiny_synthetic.py')


def run(step, script, *args):
    print(f'\n==> {step}\n    python {osp.relpath(script, ROOT)} {" ".join(map(str, args))}', flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, script, *map(str, args)], cwd=ROOT, env=env)
    if proc.returncode:
        raise SystemExit(f'{step} failed (exit {proc.returncode}); see the output above.')


def test_metrics(work_dir):
    """The metrics tools/test.py wrote (mmengine's <work_dir>/<timestamp>/<timestamp>.json)."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    if not files:
        raise SystemExit(f'No metrics written under {work_dir}.')
    with open(files[-1]) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'quickstart'))
    parser.add_argument('--pretrain-iters', type=int, default=600)
    parser.add_argument('--epochs', type=int, default=8, help='detector fine-tuning epochs')
    parser.add_argument('--train-images', type=int, default=64)
    parser.add_argument('--val-images', type=int, default=16)
    parser.add_argument('--skip-baseline', action='store_true',
                        help='only the pre-trained detector (no comparison without pre-training)')
    parser.add_argument('--label-only', action='store_true',
                        help='also pre-train without image-text data (labels only) and fine-tune from '
                             'that: separates the image-text share of the gain')
    args = parser.parse_args()
    start = time.time()
    work = osp.abspath(args.work_dir)
    data_root = osp.join(work, 'data')

    from icar_mm.datasets.synthetic import BASE_CLASSES, NOVEL_CLASSES, write_detection_set
    print(f'==> 1. writing the synthetic world to {data_root} (training boxes: base classes only)', flush=True)
    write_detection_set(data_root, 'train', num_images=args.train_images, seed=0, label_classes=BASE_CLASSES)
    write_detection_set(data_root, 'val', num_images=args.val_images, seed=1)

    warmup = min(50, args.pretrain_iters // 2)
    schedule = [f'train_cfg.max_iters={args.pretrain_iters}', f'param_scheduler.0.end={warmup}',
                f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.end={args.pretrain_iters}',
                f'default_hooks.checkpoint.interval={args.pretrain_iters}']
    pretrainings = [('2. iCAR pre-training (image-label + image-text, one shared text encoder)', 'pretrain', [])]
    if args.label_only:
        pretrainings.append(('2b. pre-training on image-label data only', 'pretrain_label_only',
                             ['model.text_loss_weight=0']))
    for step, sub, options in pretrainings:
        run(step, osp.join(ROOT, 'tools', 'train.py'), PRETRAIN, '--work-dir', osp.join(work, sub),
            '--cfg-options', *schedule, *options)
    icar_checkpoint = osp.join(work, 'pretrain', 'icar_synthetic.pth')

    data = [f'{loader}_dataloader.dataset.data_root={data_root}/' for loader in ('train', 'val', 'test')]
    data += [f'{name}_evaluator.ann_file={data_root}/annotations/val.json' for name in ('val', 'test')]
    data += [f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}']
    runs = [('iCAR pre-trained (ours)', 'pretrained', icar_checkpoint)]
    if args.label_only:
        runs.append(('label-only pre-trained', 'label_only',
                     osp.join(work, 'pretrain_label_only', 'icar_synthetic.pth')))
    if not args.skip_baseline:
        runs.append(('no pre-training', 'scratch', None))
    results = {}
    for name, tag, ckpt in runs:
        det_dir = osp.join(work, f'detector_{tag}')
        weights = [f'model.backbone.checkpoint={ckpt}',
                   f'model.roi_head.bbox_head.classifier.text_encoder.checkpoint={ckpt}']
        run(f'3. fine-tuning the open-vocabulary detector on base boxes: {name}',
            osp.join(ROOT, 'tools', 'train.py'), DETECTOR, '--work-dir', det_dir, '--cfg-options', *weights, *data)
        checkpoint = osp.join(det_dir, f'epoch_{args.epochs}.pth')
        run(f'4. evaluating base and novel classes: {name}', osp.join(ROOT, 'tools', 'test.py'), DETECTOR,
            checkpoint, '--work-dir', osp.join(det_dir, 'test'), '--cfg-options', *weights, *data)
        results[name] = (test_metrics(osp.join(det_dir, 'test')), checkpoint, weights)

    name = runs[0][0]
    _, checkpoint, weights = results[name]
    images = sorted(glob.glob(osp.join(data_root, 'images', 'val', '*.jpg')))[:4]
    out_dir = osp.join(work, 'detections')
    run('4. drawing detections of base and novel classes, named at run time', osp.join(ROOT, 'tools', 'detect.py'),
        DETECTOR, checkpoint, *images, '--classes', ','.join(BASE_CLASSES + NOVEL_CLASSES),
        '--out-dir', out_dir, '--score-thr', '0.3', '--cfg-options', *weights)

    minutes = (time.time() - start) / 60
    rows = [(n, m.get('coco/base_ap50', float('nan')), m.get('coco/novel_ap50', float('nan')))
            for n, (m, _, _) in results.items()]
    rows.append(('linear-head detector', None, 0.0))
    print(f'\n==> 5. summary ({minutes:.1f} min): AP50 on held-out scenes, novel classes never boxed in training')
    print(f'    {"detector":<28}{"base AP50":>10}{"novel AP50":>12}')
    for n, base, novel in rows:
        print(f'    {n:<28}{"-" if base is None else f"{base:.3f}":>10}{novel:>12.3f}')
    print('    (a linear head has one weight row per training class: it cannot name a novel class, 0 by construction)')
    print(f'    pictures: {osp.join(out_dir, "vis")}')
    with open(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(dict(minutes=round(minutes, 2), rows=[dict(detector=n, base_ap50=b, novel_ap50=v)
                                                        for n, b, v in rows]), f, indent=1)


if __name__ == '__main__':
    main()
