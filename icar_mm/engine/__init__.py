from .hooks import (
    DistributedCheckHook,
    ExactResumeHook,
    ExportICARHook,
    FiniteLossHook,
    NonFiniteLossError,
    VocabularyHook,
)

__all__ = [
    'DistributedCheckHook',
    'ExactResumeHook',
    'ExportICARHook',
    'FiniteLossHook',
    'NonFiniteLossError',
    'VocabularyHook',
]
