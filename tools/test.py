"""Evaluate a checkpoint with any mmdet / mmseg / mmaction2 / icar_mm config.

python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                     [--class-weights FILE] [--cfg-options k=v ...] [--launcher pytorch]
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import parse_tool_args  # noqa: E402

from icar_mm.apis import build_runner, load_config  # noqa: E402
from icar_mm.checkpoints import check_model_checkpoint  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='also dump raw predictions to this .pkl file')
    parser.add_argument(
        '--class-weights', help='exported (or refined) class-weights file used by every text classifier'
    )
    return parse_tool_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    cfg.load_from = args.checkpoint
    runner = build_runner(cfg)
    check_model_checkpoint(runner.model, args.checkpoint)
    if args.class_weights:
        from icar_mm.apis import use_class_weights

        use_class_weights(runner, args.class_weights)
    if args.out:
        from mmengine.evaluator import DumpResults

        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
