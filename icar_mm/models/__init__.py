"""Backbones and task heads: thin adapters around host modules plus the shared classifier."""

from .backbones import ICARSwin
from .bbox_head import TextCosineBBoxHead
from .pretrain import ICARPretrainer
from .recognition_head import TextCosineRecognitionHead
from .seg_heads import TextCosineFCNHead, TextCosineUPerHead, TextEncoderDecoder
from .video_backbone import ICARSwin3D

__all__ = [
    'ICARSwin',
    'ICARSwin3D',
    'ICARPretrainer',
    'TextCosineBBoxHead',
    'TextCosineUPerHead',
    'TextCosineFCNHead',
    'TextEncoderDecoder',
    'TextCosineRecognitionHead',
]
