"""Multi-label zero-shot recognition: pseudo visual prompts learned from
sentences, contrastive transfer to the text labels, and a dual adapter.

Data (``data``, ``sentences``) and model (``model``) live here; the metric is
``icar_mm.MultiLabelMetric`` in :mod:`icar_mm.evaluation.multilabel`, with the other metrics."""

from .data import CocoMultiLabelDataset, PackMultiLabelInputs, SentenceDataset, VOCMultiLabelDataset
from .model import (
    MultiLabelDataPreprocessor,
    MultiLabelLoss,
    OpenCLIPImageEncoder,
    PooledImageEncoder,
    PVPMultiLabelClassifier,
)
from .sentences import ClassWordParser, SentenceGenerator, class_words, load_sentence_file, write_sentence_file

__all__ = [
    'SentenceDataset',
    'CocoMultiLabelDataset',
    'VOCMultiLabelDataset',
    'PackMultiLabelInputs',
    'PVPMultiLabelClassifier',
    'PooledImageEncoder',
    'OpenCLIPImageEncoder',
    'MultiLabelDataPreprocessor',
    'MultiLabelLoss',
    'SentenceGenerator',
    'ClassWordParser',
    'class_words',
    'load_sentence_file',
    'write_sentence_file',
]
