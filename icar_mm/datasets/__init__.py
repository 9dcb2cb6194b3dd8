"""Datasets: the embedded synthetic open-vocabulary world."""

from .images import ImageReadError, LoadImageFromFile
from .pretrain import SyntheticPretrainDataset
from .synthetic import (
    ALL_CLASSES,
    BASE_CLASSES,
    NOVEL_CLASSES,
    synthetic_vocabulary,
    write_detection_set,
    write_segmentation_set,
    write_video_set,
)
from .video import OVVideoDataset, VideoDecode, VideoInit, VideoReadError

__all__ = [
    'ImageReadError',
    'LoadImageFromFile',
    'ALL_CLASSES',
    'BASE_CLASSES',
    'NOVEL_CLASSES',
    'synthetic_vocabulary',
    'write_detection_set',
    'write_segmentation_set',
    'write_video_set',
    'SyntheticPretrainDataset',
    'OVVideoDataset',
    'VideoInit',
    'VideoDecode',
    'VideoReadError',
]
