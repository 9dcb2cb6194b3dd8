from .encoder import HFTextEncoder, ICARTextEncoder, OpenCLIPTextEncoder, build_text_encoder
from .vocabulary import Vocabulary, fill_template, get_templates, load_vocabulary, shipped_vocabularies

__all__ = [
    'OpenCLIPTextEncoder',
    'HFTextEncoder',
    'ICARTextEncoder',
    'build_text_encoder',
    'Vocabulary',
    'load_vocabulary',
    'get_templates',
    'fill_template',
    'shipped_vocabularies',
]
