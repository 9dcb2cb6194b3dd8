"""Fixes to the pinned hosts, applied on ``import icar_mm``: two that let them work
with torch 2.14, one for speed, what makes ``icar_mm::`` config paths work, and
mixed precision on the CPU (two fixes).

1. torch >= 2.6 loads checkpoints with ``weights_only=True`` by default, and
   mmengine 0.10.7 passes no ``weights_only``: every checkpoint mmengine
   writes (its ``message_hub`` holds ``HistoryBuffer`` objects, numpy data
   and references to ``HistoryBuffer`` methods) then fails to load in
   ``tools/test.py``, ``--resume`` and the inferencers. mmengine's loader for
   local files is replaced by one that still loads ``weights_only`` and allows
   exactly those classes (and attribute lookup on them) while it runs;
   anything else stays refused.
2. mmengine resolves ``mmaction::`` config paths through mmaction2 1.1.0's
   metafiles, one of which (BSN) lists two configs under ``Config``, which
   mmengine cannot parse: every ``mmaction::`` base then fails. Entries with
   a list are read as several configs.
3. mmengine formats the whole config with yapf every time it logs, dumps or
   checkpoints it: seven times in a one-epoch run, about 0.4 s each for a
   Mask R-CNN config, a tenth of a short run on CPU (mmcv#2466). The
   formatting is a pure function of the text, so each text is formatted once.

4. ``_base_ = 'icar_mm::detection/....py'``: mmengine resolves ``pkg::`` config
   paths only for the packages in its ``MODULE2PACKAGE`` and finds them through
   ``get_installed_path``, which for an editable install names a folder that does
   not exist. icar_mm is added to that dict and found where it is imported from;
   its configs, tools and ``model-index.yml`` are in ``icar_mm/.mim/`` (setup.py).
   mmengine resolves bases before ``custom_imports``, so a script or config
   that inherits ``icar_mm::`` configs must ``import icar_mm`` first. mmengine
   also stamps ``_scope_=<pkg>`` on the typed dicts of such bases; ours are host
   configs (the host's ``default_scope``, our modules named ``icar_mm.X``), so an
   ``icar_mm::`` base adds no scope.

5. mmengine's ``AmpOptimWrapper`` (the ``amp`` configs, ``tools/train.py --amp``)
   refuses to run without a GPU, although mmengine's ``autocast`` runs on the
   CPU in bfloat16. Without an accelerator it is built as for one, with a
   disabled loss scaler: bfloat16 keeps float32's exponent range and needs no
   loss scaling. A CPU without bfloat16 instructions (AVX2 only, say) emulates
   it: a bfloat16 matmul measured 450x slower than float32 there. So where one
   runs over 4x slower (timed once, at 256x256), a wrapper whose config names no
   ``dtype`` trains in float32 and says so; ``dtype='bfloat16'`` forces it.
6. mmcv's CPU kernels of ``nms`` and ``roi_align`` take float32 only, so a
   detector under CPU autocast stops in its RPN with "expected scalar type
   Float but found BFloat16". On the CPU they compute bfloat16 inputs in
   float32 and return bfloat16, as their GPU kernels do; other devices are untouched.

``repair_mmaction_metafiles()`` (run by ``scripts/setup.sh``, or ``python -m
icar_mm.repair_hosts``) mends fix 2 at its source for the hosts' own tools, which parse a
config before anything can import icar_mm: it rewrites mmaction2's list-valued
metafile entries in the installed package as one entry per config.

Each fix names the host version it was written for and warns once, naming
the version found, when another is installed.
"""

import functools
import importlib.util
import logging
import os.path as osp
import sys
import time
import warnings
from importlib import metadata

import torch
from mmengine.config import config as config_module
from mmengine.config import utils
from mmengine.config.config import Config
from mmengine.device import get_device
from mmengine.fileio import dump, load
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoints import read_checkpoint


def _written_for(package: str, expected: str, fix: str, outcome: str) -> None:
    """Warn when ``package`` is installed in another version than ``fix`` was written for."""
    try:
        found = metadata.version(package)
    except metadata.PackageNotFoundError:
        return  # nothing of that host to fix
    if found != expected:
        warnings.warn(
            f'icar_mm.compat: {fix} was written for {package} {expected}, but {package} {found} '
            f'is installed; {outcome}.',
            stacklevel=3,
        )


def _allow_mmengine_checkpoints():
    _written_for(
        'mmengine',
        '0.10.7',
        "the weights_only loader for mmengine's local checkpoints",
        'applied anyway (it can only refuse more files, never load more)',
    )

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        return read_checkpoint(osp.expanduser(filename), map_location)  # same safety and errors as ours


def _wrap_host_function(module, name: str, fix: str, package: str, expected: str, outcome: str, wrap) -> None:
    """Replace ``module.name`` by ``wrap(original)``, once; warn when the host differs from the one ``fix`` is for."""
    original = getattr(module, name, None)
    if original is None:  # mmengine reorganised: nothing to wrap
        _written_for('mmengine', '0.10.7', fix, f'skipped: {module.__name__}.{name} no longer exists')
        return
    if getattr(original, '_icar_mm', False):
        return
    _written_for(package, expected, fix, outcome)
    replacement = wrap(original)
    replacement._icar_mm = True
    if isinstance(vars(module).get(name), staticmethod):  # a class's static method stays one
        replacement = staticmethod(replacement)
    setattr(module, name, replacement)


def _list_configs_in_metafiles(original):
    def get_cfg_metainfo(package_path, cfg_path):
        try:
            return original(package_path, cfg_path)
        except AttributeError:  # a metafile entry with a list under `Config`
            index = load(osp.join(package_path, '.mim', 'model-index.yml'))
            for meta_path in index['Import']:
                for model in load(osp.join(package_path, '.mim', meta_path)).get('Models', []):
                    configs = model.get('Config', [])
                    for config in [configs] if isinstance(configs, str) else configs:
                        if config.partition('/')[-1] == cfg_path:
                            return dict(model, Config=config)
            raise ValueError(f'{cfg_path} has no metafile entry')  # mmengine then tries _base_ paths

    return get_cfg_metainfo


def _find_own_package(original):
    package_dir = osp.dirname(osp.abspath(__file__))

    def get_installed_path(package):
        if package != 'icar_mm':
            return original(package)
        if not osp.isfile(osp.join(package_dir, '.mim', 'model-index.yml')):
            raise FileNotFoundError(
                f'icar_mm:: configs are read from {package_dir}/.mim/, which does not exist: it is made when '
                'icar_mm is installed (pip install icar_mm, or pip install -e . in a checkout, as make setup does).'
            )
        return package_dir

    return get_installed_path


def _no_scope_for_own_configs(original):
    def dict_to_config_dict(cfg, scope=None, has_scope=True):
        return original(cfg, None if scope == 'icar_mm' else scope, has_scope)

    return dict_to_config_dict


def repair_mmaction_metafiles() -> list:
    """Rewrite each metafile entry of the installed mmaction2 whose ``Config`` is a list as one entry
    per config (what mmengine can read); the files changed."""
    spec = importlib.util.find_spec('mmaction')
    if spec is None:  # mmaction2 not installed: nothing to repair
        return []
    mim = osp.join(osp.dirname(spec.origin), '.mim')
    changed = []
    for meta_path in load(osp.join(mim, 'model-index.yml'))['Import']:
        path = osp.join(mim, meta_path)
        meta = load(path)
        models = meta.get('Models') or []
        if not any(isinstance(m.get('Config'), list) for m in models):
            continue
        meta['Models'] = [
            dict(m, Config=config)
            for m in models
            for config in (m['Config'] if isinstance(m.get('Config'), list) else [m.get('Config')])
        ]
        dump(meta, path, sort_keys=False)
        changed.append(path)
    return changed


def _format_once(format_code):
    formatted = {}

    def format_once(unformatted_source, **options):
        key = (unformatted_source, repr(sorted(options.items())))
        if key not in formatted:
            if len(formatted) >= 16:  # a process formats few distinct configs
                formatted.clear()
            formatted[key] = format_code(unformatted_source, **options)
        return formatted[key]

    format_once.formatted = formatted
    return format_once


def _amp_on_cpu(original):
    module = sys.modules[original.__module__]

    def __init__(self, *args, **kwargs):
        if get_device() != 'cpu':
            return original(self, *args, **kwargs)
        accelerator_check = module.is_cuda_available
        module.is_cuda_available = lambda: True
        try:
            with warnings.catch_warnings():  # torch's "GradScaler ... CUDA is not available. Disabling"
                warnings.simplefilter('ignore', UserWarning)
                original(self, *args, **kwargs)
        finally:
            module.is_cuda_available = accelerator_check
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        if self.cast_dtype is None and (slowdown := bfloat16_slowdown()) > 4:
            print_log(
                f'AmpOptimWrapper: bfloat16 matmuls run {slowdown:.0f}x slower than float32 on this CPU (it has no '
                "bfloat16 instructions), so training runs in float32; optim_wrapper.dtype='bfloat16' forces it.",
                logger='current',
                level=logging.WARNING,
            )
            self.optim_context = functools.partial(OptimWrapper.optim_context, self)  # no autocast

    return __init__


@functools.lru_cache(maxsize=None)
def bfloat16_slowdown() -> float:
    """How many times longer a 256x256 matmul takes on this CPU in bfloat16 than in float32 (best of 3)."""
    a = torch.randn(256, 256)

    def best(x):
        times = []
        for _ in range(4):  # the first warms up
            start = time.perf_counter()
            x @ x
            times.append(time.perf_counter() - start)
        return min(times[1:])

    return best(a.bfloat16()) / max(best(a), 1e-9)


def _float32_kernels_on_cpu(original):
    def is_bf16_cpu(x):
        return isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 and x.device.type == 'cpu'

    def op(*args, **kwargs):
        if not any(map(is_bf16_cpu, args)):
            return original(*args, **kwargs)
        out = original(*(a.float() if is_bf16_cpu(a) else a for a in args), **kwargs)

        def back(x):  # results in the callers' dtype, as on a GPU
            return x.bfloat16() if isinstance(x, torch.Tensor) and x.is_floating_point() else x

        return tuple(map(back, out)) if isinstance(out, tuple) else back(out)

    return op


_allow_mmengine_checkpoints()
_wrap_host_function(
    utils,
    '_get_cfg_metainfo',
    "the fix for mmaction2's list-valued metafile configs",
    'mmaction2',
    '1.1.0',
    'applied anyway (it only steps in where mmengine cannot parse a metafile entry)',
    _list_configs_in_metafiles,
)
_wrap_host_function(
    config_module,
    'FormatCode',
    'keeping formatted configs',
    'mmengine',
    '0.10.7',
    'applied anyway (the text yapf formats is unchanged)',
    _format_once,
)
utils.MODULE2PACKAGE.setdefault('icar_mm', 'icar_mm')
_wrap_host_function(
    config_module,
    'get_installed_path',
    'finding icar_mm:: configs',
    'mmengine',
    '0.10.7',
    'applied anyway (it answers for icar_mm only)',
    _find_own_package,
)
_wrap_host_function(
    Config,
    '_dict_to_config_dict',
    'icar_mm:: bases without a scope of their own',
    'mmengine',
    '0.10.7',
    'applied anyway (it only changes bases named icar_mm::)',
    _no_scope_for_own_configs,
)
_wrap_host_function(
    AmpOptimWrapper,
    '__init__',
    'mixed precision on the CPU',
    'mmengine',
    '0.10.7',
    'applied anyway (it only steps in without an accelerator)',
    _amp_on_cpu,
)
if importlib.util.find_spec('mmcv.ops') is not None:  # the full mmcv, with its compiled ops
    import mmcv.ops

    for module, name in (
        (sys.modules['mmcv.ops.nms'], 'nms'),
        (mmcv.ops, 'nms'),
        (sys.modules['mmcv.ops.roi_align'], 'roi_align'),
    ):
        _wrap_host_function(
            module,
            name,
            "mmcv's float32 CPU kernels under bfloat16 autocast",
            'mmcv',
            '2.0.1',
            'applied anyway (it only casts bfloat16 CPU tensors)',
            _float32_kernels_on_cpu,
        )
