"""Train with any mmdet / mmseg / mmaction2 / icar_mm config (scope from the config).

python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                             [--cfg-options k=v ...] [--launcher pytorch]
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import parse_tool_args  # noqa: E402

from icar_mm.apis import build_runner, load_config  # noqa: E402
from icar_mm.checkpoints import check_model_checkpoint  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model from an OpenMMLab config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or with no value from the latest one in the work dir',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the lr by the actual batch size')
    return parse_tool_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config.')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    runner = build_runner(cfg)
    if args.resume and args.resume != 'auto':
        check_model_checkpoint(runner.model, args.resume)
    runner.train()


if __name__ == '__main__':
    main()
