"""icar_mm: iCAR-pretrained encoders and text-generated cosine heads for OpenMMLab."""
__version__ = '0.1.0'
