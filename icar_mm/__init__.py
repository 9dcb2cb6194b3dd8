"""icar_mm: iCAR-pretrained encoders and text-generated cosine heads for OpenMMLab."""
from . import compat  # noqa: F401  (host fixes for torch 2.14, see compat.py)

__version__ = '0.1.0'
