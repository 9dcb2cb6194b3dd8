"""The library side of the tools: config loading, runner building, vocabularies and
class weights for any model (:mod:`icar_mm.apis.vocabulary`), and inference
(:mod:`icar_mm.apis.inference`). Command-line plumbing lives in ``tools/_common.py``."""

import datetime
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .inference import apply_vocabulary, class_names, default_device, inference, init_model, task_of
from .vocabulary import set_vocabulary, sync_dataset_meta, use_class_weights


def load_config(
    path: str, work_dir: Optional[str] = None, cfg_options: Optional[dict] = None, launcher: str = 'none'
) -> Config:
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
    if cfg.launcher != 'pytorch':
        raise SystemExit(
            f'--launcher {cfg.launcher} needs GPUs; without one, start the processes with '
            'torchrun (tools/dist_train.sh CONFIG NPROC), which runs them on CPU with gloo.'
        )
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
        dist.init_process_group('gloo', **({'timeout': datetime.timedelta(seconds=timeout)} if timeout else {}))
    wrapper = dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False),
    )
    cfg.model_wrapper_cfg = dict(wrapper, **(cfg.get('model_wrapper_cfg') or {}), device_ids=None)


__all__ = [
    'load_config',
    'build_runner',
    'use_class_weights',
    'set_vocabulary',
    'sync_dataset_meta',
    'init_model',
    'inference',
    'apply_vocabulary',
    'class_names',
    'task_of',
    'default_device',
]
