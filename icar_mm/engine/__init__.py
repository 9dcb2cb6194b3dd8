from .hooks import VocabularyHook

__all__ = ['VocabularyHook']
