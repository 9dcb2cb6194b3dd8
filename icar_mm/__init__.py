"""icar_mm: iCAR-pretrained encoders and text-generated cosine heads for OpenMMLab."""

from . import compat  # noqa: F401  (host fixes for torch 2.14, see compat.py)

__version__ = '0.1.0'

# Public names, imported on first use: the heads import mmdet, mmseg and
# mmaction2, which would more than double the time of `import icar_mm`.
_EXPORTS = {
    'TextCosineClassifier': 'classifier',
    'load_class_weights': 'classifier',
    'TextCosineBBoxHead': 'models',
    'TextCosineUPerHead': 'models',
    'TextCosineFCNHead': 'models',
    'TextEncoderDecoder': 'models',
    'TextCosineRecognitionHead': 'models',
    'ICARSwin': 'models',
    'ICARSwin3D': 'models',
    'OpenCLIPTextEncoder': 'text',
    'HFTextEncoder': 'text',
    'ICARTextEncoder': 'text',
    'Vocabulary': 'text',
    'load_vocabulary': 'text',
    'init_model': 'apis',
    'inference': 'apis',
    'set_vocabulary': 'apis',
    'use_class_weights': 'apis',
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    import importlib

    value = getattr(importlib.import_module(f'{__name__}.{_EXPORTS[name]}'), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
