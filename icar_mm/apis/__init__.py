"""What tools/train.py and tools/test.py share: config loading and runner building."""
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def load_config(path: str, work_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
                launcher: str = 'none') -> Config:
    """Read a config of any host (its ``default_scope`` decides which) and
    apply the usual command-line overrides."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config {path!r} does not exist.')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def parse_tool_args(parser):
    """Add the flags tools/train.py and tools/test.py share (--cfg-options,
    --launcher, --local-rank) and parse; LOCAL_RANK is exported for launchers."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (e.g. train_cfg.max_iters=10)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_runner(cfg: Config) -> Runner:
    if cfg.get('launcher', 'none') != 'none' and not torch.cuda.is_available():
        _start_cpu_processes(cfg)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def _start_cpu_processes(cfg: Config) -> None:
    """Multi-process training on CPU: mmengine's launchers select a GPU per
    process, so the gloo process group is started here (mmengine then uses
    it) and DDP gets no device ids."""
    import datetime

    import torch.distributed as dist
    if cfg.launcher != 'pytorch':
        raise SystemExit(f'--launcher {cfg.launcher} needs GPUs; without one, start the processes with '
                         'torchrun (tools/dist_train.sh CONFIG NPROC), which runs them on CPU with gloo.')
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
        dist.init_process_group('gloo', **({'timeout': datetime.timedelta(seconds=timeout)} if timeout else {}))
    wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = dict(wrapper, **(cfg.get('model_wrapper_cfg') or {}), device_ids=None)


def use_class_weights(runner: Runner, path: str) -> None:
    """Make every text-generated classifier of the runner's model use an
    exported (or refined) class-weights file."""
    from mmengine.model import is_model_wrapper

    from ..classifier import iter_classifiers
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    classifiers = list(iter_classifiers(model))
    if not classifiers:
        raise ValueError(f'--class-weights {path}: the model has no text-generated classifier.')
    for classifier in classifiers:
        classifier.set_class_weights(path)
        classifier.follows_dataset = False


def set_vocabulary(model, vocabulary) -> None:
    """Give every text-generated classifier of ``model`` a new vocabulary (names,
    a shipped dataset name or a file) and keep ``model.dataset_meta`` in step,
    so host visualizers and inferencers name the new classes."""
    from mmengine.model import is_model_wrapper

    from ..classifier import iter_classifiers
    from ..text.vocabulary import load_vocabulary
    model = model.module if is_model_wrapper(model) else model
    vocab = load_vocabulary(vocabulary)
    classifiers = list(iter_classifiers(model))
    if not classifiers:
        raise ValueError('The model has no text-generated classifier, so its classes cannot be changed.')
    for classifier in classifiers:
        classifier.set_vocabulary(vocab)
        classifier.follows_dataset = False
    meta = dict(getattr(model, 'dataset_meta', None) or {})
    meta['classes'] = vocab.names
    if not isinstance(meta.get('palette'), (list, tuple)) or len(meta['palette']) < len(vocab):
        # a fixed colour per class index, as host visualizers expect one per class
        rng = np.random.RandomState(len(vocab))
        meta['palette'] = [tuple(int(v) for v in c) for c in rng.randint(0, 256, (len(vocab), 3))]
    else:
        meta['palette'] = list(meta['palette'])[:len(vocab)]
    model.dataset_meta = meta


def add_image_tool_args(parser, example_vocabulary: str, out_dir: str) -> None:
    """The arguments tools/detect.py and tools/segment.py share: config,
    checkpoint, images, an optional vocabulary, the output folder."""
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files or folders')
    vocab = parser.add_mutually_exclusive_group()
    vocab.add_argument('--classes', help='comma-separated class names')
    vocab.add_argument('--vocabulary', help=f'a shipped vocabulary name (e.g. {example_vocabulary}) '
                                            'or a .txt/.json file')
    parser.add_argument('--out-dir', default=out_dir)


def requested_vocabulary(args):
    """The vocabulary asked for with --classes or --vocabulary; None for the checkpoint's."""
    if args.classes:
        return [c.strip() for c in args.classes.split(',') if c.strip()]
    return args.vocabulary


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(paths) -> list:
    """Image files of the given files and folders (folders expanded in sorted
    order); missing or undecodable files stop the tool with their names."""
    images = [p for path in paths for p in
              (sorted(osp.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
               if osp.isdir(path) else [path])]
    missing = [p for p in images if not osp.isfile(p)]
    if missing:
        raise SystemExit(f'Image files not found: {missing[:5]}')
    import cv2

    from ..datasets.images import describe_unreadable
    unreadable = [p for p in images if cv2.imread(p, cv2.IMREAD_UNCHANGED) is None]
    if unreadable:
        raise SystemExit('\n'.join(describe_unreadable(p) for p in unreadable[:5]))
    return images


__all__ = ['load_config', 'parse_tool_args', 'build_runner', 'use_class_weights', 'set_vocabulary',
           'add_image_tool_args', 'requested_vocabulary', 'list_images']
