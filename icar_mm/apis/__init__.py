"""The library side of the tools: config loading, runner building, vocabularies and
class weights for any model, and inference (:mod:`icar_mm.apis.inference`).
Command-line plumbing lives in ``tools/_common.py``."""
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


def _bare(model):
    from mmengine.model import is_model_wrapper
    if isinstance(model, Runner):
        model = model.model
    return model.module if is_model_wrapper(model) else model


def _classifiers(model, what: str) -> list:
    from ..classifier import iter_classifiers
    classifiers = list(iter_classifiers(model))
    if not classifiers:
        raise ValueError(f'The model has no text-generated classifier, so {what}.')
    return classifiers


def use_class_weights(model, path: str) -> None:
    """Make every text-generated classifier of ``model`` (a model, a wrapped
    model or a runner) use an exported (or refined) class-weights file, and
    keep ``model.dataset_meta`` in step with the classes stored in it."""
    model = _bare(model)
    classifiers = _classifiers(model, f'the class weights of {path} cannot be used')
    for classifier in classifiers:
        classifier.set_class_weights(path)
        classifier.follows_dataset = False
    sync_dataset_meta(model, classifiers[0].class_names)


def set_vocabulary(model, vocabulary) -> None:
    """Give every text-generated classifier of ``model`` a new vocabulary (names,
    a shipped dataset name or a file) and keep ``model.dataset_meta`` in step,
    so host visualizers and inferencers name the new classes."""
    from ..text.vocabulary import load_vocabulary
    model = _bare(model)
    vocab = load_vocabulary(vocabulary)
    classifiers = _classifiers(model, 'its classes cannot be changed')
    for classifier in classifiers:
        classifier.set_vocabulary(vocab)  # also replaces class weights used before (use_class_weights)
        classifier.follows_dataset = False
    sync_dataset_meta(model, vocab.names)


def sync_dataset_meta(model, names) -> None:
    """``model.dataset_meta['classes']`` = ``names``, with one palette colour per
    class (kept by index from the current palette when it has enough)."""
    meta = dict(getattr(model, 'dataset_meta', None) or {})
    meta['classes'] = tuple(names)
    if not isinstance(meta.get('palette'), (list, tuple)) or len(meta['palette']) < len(names):
        # a fixed colour per class index, as host visualizers expect one per class
        rng = np.random.RandomState(len(names))
        meta['palette'] = [tuple(int(v) for v in c) for c in rng.randint(0, 256, (len(names), 3))]
    else:
        meta['palette'] = [tuple(c) for c in list(meta['palette'])[:len(names)]]
    model.dataset_meta = meta


from .inference import apply_vocabulary, class_names, default_device, inference, init_model, task_of  # noqa: E402

__all__ = ['load_config', 'build_runner', 'use_class_weights', 'set_vocabulary', 'sync_dataset_meta',
           'init_model', 'inference', 'apply_vocabulary', 'class_names', 'task_of', 'default_device']
