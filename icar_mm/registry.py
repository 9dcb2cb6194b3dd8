"""icar_mm's registries: children of mmengine's root registries, scope ``icar_mm``.

Strategy: like mmpretrain and the OpenMMLab hosts themselves, icar_mm owns one
child node per registry kind under mmengine's roots instead of registering
into mmdet, mmseg or mmaction2. A config of any host scope then builds our
modules with a scope-prefixed type::

    backbone=dict(type='icar_mm.ICARSwin', ...)          # in an mmdet config
    decode_head=dict(type='icar_mm.CosineUPerHead', ...)  # in an mmseg config

mmengine resolves ``icar_mm.X`` through the root registry to this node and
imports ``locations`` lazily, so no ``custom_imports`` are needed and one
module works unchanged under every host. Why not register into each host:
that would import all three hosts whenever one is used, and two hosts that
define the same name would clash.

Our modules build their host sub-modules (losses, samplers, necks) through
the host registries, which keeps working because building ``icar_mm.X`` does
not change the config's ``default_scope``.
"""

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

SCOPE = 'icar_mm'

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope=SCOPE,
    locations=['icar_mm.text', 'icar_mm.classifier', 'icar_mm.models', 'icar_mm.multilabel'],
)
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope=SCOPE, locations=['icar_mm.datasets', 'icar_mm.multilabel']
)
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE, locations=['icar_mm.datasets', 'icar_mm.multilabel']
)
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope=SCOPE, locations=['icar_mm.evaluation'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE, locations=['icar_mm.engine'])
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS, scope=SCOPE, locations=[])


def build_own(registry: Registry, cfg):
    """Build one of our own modules from a config dict, whatever the current
    default scope is (an un-prefixed ``type`` means an icar_mm type)."""
    if not isinstance(cfg, dict):
        return cfg
    cfg = dict(cfg)
    cfg.setdefault('_scope_', SCOPE)
    return registry.build(cfg)
