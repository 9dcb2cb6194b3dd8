from .hooks import ExportICARHook, VocabularyHook

__all__ = ['ExportICARHook', 'VocabularyHook']
