"""Backbones and task heads: thin adapters around host modules plus the shared classifier."""
from .backbones import ICARSwin
from .bbox_head import TextCosineBBoxHead

__all__ = ['ICARSwin', 'TextCosineBBoxHead']
