"""Multi-label zero-shot recognition: pseudo visual prompts learned from
sentences, contrastive transfer to the text labels, and a dual adapter."""
from .data import (CocoMultiLabelDataset, PackMultiLabelInputs, SentenceDataset,
                   VOCMultiLabelDataset)
from .model import (MultiLabelDataPreprocessor, MultiLabelLoss, OpenCLIPImageEncoder,
                    PooledImageEncoder, PVPMultiLabelClassifier)
from .sentences import (ClassWordParser, SentenceGenerator, class_words, load_sentence_file,
                        write_sentence_file)

__all__ = [
    'SentenceDataset', 'CocoMultiLabelDataset', 'VOCMultiLabelDataset', 'PackMultiLabelInputs',
    'PVPMultiLabelClassifier', 'PooledImageEncoder', 'OpenCLIPImageEncoder',
    'MultiLabelDataPreprocessor', 'MultiLabelLoss', 'SentenceGenerator', 'ClassWordParser',
    'class_words', 'load_sentence_file', 'write_sentence_file'
]
