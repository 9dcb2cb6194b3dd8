"""Fixes to the pinned hosts, applied on ``import icar_mm``: two that let them work
with torch 2.14, and one for speed.

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

Each fix names the host version it was written for and warns once, naming
the version found, when another is installed.
"""

import os.path as osp
import warnings
from importlib import metadata

from mmengine.config import config as config_module
from mmengine.config import utils
from mmengine.fileio import load
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
