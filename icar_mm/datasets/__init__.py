"""Datasets: the embedded synthetic open-vocabulary world."""
from .synthetic import (ALL_CLASSES, BASE_CLASSES, NOVEL_CLASSES,
                        synthetic_vocabulary, write_detection_set,
                        write_segmentation_set, write_video_set)

__all__ = [
    'ALL_CLASSES', 'BASE_CLASSES', 'NOVEL_CLASSES', 'synthetic_vocabulary',
    'write_detection_set', 'write_segmentation_set', 'write_video_set'
]
