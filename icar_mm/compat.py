"""Two fixes that let the pinned hosts work with torch 2.14, applied on ``import icar_mm``.

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
"""


def mmengine_safe_globals() -> list:
    """Plain-data classes that mmengine writes into its checkpoints' meta."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64', 'int32', 'uint8', 'bool')]
    # getattr: HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'mean');
    # the unpickler still calls only allow-listed callables.
    return [HistoryBuffer, getattr, np.dtype, np.ndarray, multiarray._reconstruct, multiarray.scalar,
            *dtypes]


def _allow_mmengine_checkpoints():
    import os.path as osp

    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        from .checkpoints import read_checkpoint  # same safety and error messages as ours
        return read_checkpoint(osp.expanduser(filename), map_location)


def _tolerate_list_configs_in_metafiles():
    from mmengine.config import utils
    original = utils._get_cfg_metainfo
    if getattr(original, '_icar_mm', False):
        return

    def get_cfg_metainfo(package_path, cfg_path):
        try:
            return original(package_path, cfg_path)
        except AttributeError:  # a metafile entry with a list under `Config`
            import os.path as osp

            from mmengine.fileio import load
            index = load(osp.join(package_path, '.mim', 'model-index.yml'))
            for meta_path in index['Import']:
                for model in load(osp.join(package_path, '.mim', meta_path)).get('Models', []):
                    configs = model.get('Config', [])
                    for config in [configs] if isinstance(configs, str) else configs:
                        if config.partition('/')[-1] == cfg_path:
                            return dict(model, Config=config)
            raise ValueError(f'{cfg_path} has no metafile entry')  # mmengine then tries _base_ paths

    get_cfg_metainfo._icar_mm = True
    utils._get_cfg_metainfo = get_cfg_metainfo


_allow_mmengine_checkpoints()
_tolerate_list_configs_in_metafiles()
