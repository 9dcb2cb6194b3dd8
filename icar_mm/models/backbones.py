"""Backbones: mmdet's Swin (shared by mmdet and mmseg configs) with our checkpoint loading."""

from typing import Optional

from mmdet.models.backbones import SwinTransformer

from ..checkpoints import load_swin_backbone
from ..registry import MODELS


@MODELS.register_module()
class ICARSwin(SwinTransformer):
    """mmdet's ``SwinTransformer`` (multi-scale outputs for FPN / UPerNet) that
    loads iCAR checkpoints (``visual_model.backbone.*``), Microsoft Swin
    releases, OpenMMLab Swin state dicts and our own saved models, strictly,
    through :mod:`icar_mm.checkpoints`.

    Args:
        checkpoint: local file loaded by ``init_weights`` (i.e. when training
            starts; a test run loads the trained model instead). None: random init.
        **kwargs: ``SwinTransformer`` arguments (``embed_dims``, ``depths``,
            ``num_heads``, ``window_size``, ``out_indices``, ``frozen_stages`` ...).
    """

    def __init__(self, checkpoint: Optional[str] = None, **kwargs):
        for key in ('pretrained', 'init_cfg', 'convert_weights'):
            if kwargs.get(key):
                raise ValueError(f'ICARSwin loads weights itself: use checkpoint=<file> instead of {key}.')
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        self.checkpoint = checkpoint

    def init_weights(self):
        if not self.checkpoint:
            return super().init_weights()  # random init, as mmdet's Swin does
        # Loading is strict, so every tensor but the fresh stage norms (LayerNorm
        # defaults) comes from the file.
        load_swin_backbone(self, self.checkpoint, num_stages=len(self.stages))
        self._freeze_stages()
