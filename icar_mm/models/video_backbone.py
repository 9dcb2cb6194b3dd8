"""Video backbone: mmaction2's ``SwinTransformer3D``, inflated from 2D iCAR weights."""

import itertools
from typing import Optional

from mmaction.models.backbones import SwinTransformer3D
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

from ..checkpoints import load_swin3d_backbone
from ..registry import MODELS

# Converted 2D weights reach mmaction's ``inflate_weights`` (which reads a
# checkpoint path) through an in-memory checkpoint scheme: no temporary file.
_SCHEME = 'icar-mm-memory://'
_SERVED = {}
_counter = itertools.count()


@CheckpointLoader.register_scheme(prefixes=_SCHEME, force=True)
def load_from_memory(filename, map_location=None):  # mmengine logs "by memory backend"
    return dict(model=_SERVED.pop(filename))


@MODELS.register_module()
class ICARSwin3D(SwinTransformer3D):
    """mmaction2's ``SwinTransformer3D`` that loads its weights through
    :mod:`icar_mm.checkpoints`: a 2D checkpoint (iCAR ``visual_model.backbone.*``,
    Microsoft Swin, OpenMMLab Swin, or an icar_mm detector / segmentor's
    ``backbone.*``) is converted to the Microsoft layout and inflated by
    mmaction's own ``inflate_weights`` (patch embedding repeated over time and
    divided by its temporal size, relative position bias tables resized and
    tiled, ``norm`` -> ``norm3``); a 3D checkpoint (a trained video model) is
    loaded as is. Keys are checked strictly and reported by name.

    Args:
        checkpoint: local file loaded by ``init_weights`` (when training starts).
            None: random init.
        **kwargs: ``SwinTransformer3D`` arguments (``arch``, ``patch_size``,
            ``window_size``, ``drop_path_rate``, ``out_indices`` ...).
    """

    def __init__(self, checkpoint: Optional[str] = None, **kwargs):
        if kwargs.pop('pretrained', None):
            raise ValueError(
                'ICARSwin3D loads weights itself: use checkpoint=<local file> instead of '
                'pretrained (2D checkpoints are inflated, 3D ones loaded as they are).'
            )
        kwargs.pop('pretrained2d', None)  # decided from the checkpoint itself
        super().__init__(pretrained=None, pretrained2d=False, **kwargs)
        self.checkpoint = checkpoint

    def init_weights(self) -> None:
        super().init_weights()  # the init_cfg's truncated-normal init first, as mmaction does
        if self.checkpoint:
            load_swin3d_backbone(self, self.checkpoint, inflate=self._inflate)
            self._freeze_stages()

    def _inflate(self, state_dict) -> None:
        """mmaction's own inflation of Microsoft-layout 2D weights."""
        name = f'{_SCHEME}{next(_counter)}'
        _SERVED[name] = state_dict
        self.pretrained = name
        try:
            self.inflate_weights(MMLogger.get_current_instance())
        finally:
            _SERVED.pop(name, None)
            self.pretrained = None
