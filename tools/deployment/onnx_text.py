"""Class embeddings for any vocabulary from an exported text tower, with
onnxruntime and ``tokenizers`` alone (no torch, no OpenMMLab): the input a
``--vocabulary-input`` export takes, as its classifier would make it.

    from onnx_text import vocabulary_embeddings
    names, embeddings = vocabulary_embeddings('det.onnx', ['zebra', 'hot air balloon'])

``export_onnx.py --vocabulary-input`` writes the tower (``<model>.text.onnx``:
tokens -> unit prompt embeddings), its tokenizer (``<model>.tokenizer.json``)
and, in ``<model>.onnx.json``, the prompt templates and whether prompts carry
class descriptions. Prompts are built by icar_mm's own vocabulary code (shipped
vocabularies, ``name: description`` files, WordNet glosses), which uses the
standard library only and is loaded here without the rest of the package.
"""

import html
import importlib
import importlib.util
import json
import os.path as osp
import sys
import types

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))


def vocabulary_module():
    """``icar_mm/text/vocabulary.py`` (and the descriptions it imports) as a package
    of its own: importing ``icar_mm`` would import torch."""
    if 'icar_text' not in sys.modules:
        spec = importlib.util.find_spec('icar_mm')
        root = osp.dirname(spec.origin) if spec else osp.join(osp.dirname(osp.dirname(HERE)), 'icar_mm')
        package = types.ModuleType('icar_text')
        package.__path__ = [osp.join(root, 'text')]
        sys.modules['icar_text'] = package
    return importlib.import_module('icar_text.vocabulary')


def clean(text: str, mode: str) -> str:
    """open_clip's prompt cleaning before tokenising: ftfy, HTML entities, whitespace (, lower case)."""
    import ftfy

    text = ' '.join(html.unescape(html.unescape(ftfy.fix_text(text))).split())
    return text.lower() if mode == 'lower' else text


def vocabulary_embeddings(model: str, classes, session_options=None):
    """(class names, ``[C, D]`` float32 class embeddings) of ``classes`` (a list
    of names, a shipped vocabulary's name or a vocabulary file) for the
    vocabulary-input export ``model``: each class's prompts through the text
    tower, their unit embeddings averaged over the templates and normalised."""
    import onnxruntime
    from tokenizers import Tokenizer

    meta = model + '.json'
    info = json.load(open(meta)) if osp.isfile(meta) else {}
    text = info.get('text')
    if not text:
        raise SystemExit(
            f'{model}: no text tower was exported with it ({meta} has no "text" entry); export the model with '
            'tools/deployment/export_onnx.py --vocabulary-input, which writes one.'
        )
    folder = osp.dirname(osp.abspath(model))
    vocab = vocabulary_module().load_vocabulary(classes)
    names = list(vocab.names)
    background = text.get('background')
    described = [n for n in names if not (background and n == background['name'])]
    table = vocab.subset(described).prompts(text['templates'], text['enriched'])
    tokenizer = Tokenizer.from_file(osp.join(folder, text['tokenizer']))
    prompts = [clean(p, text['clean']) for row in table for p in row]
    tokens = np.array([e.ids for e in tokenizer.encode_batch(prompts)], dtype=np.int64)
    tower = onnxruntime.InferenceSession(
        osp.join(folder, text['model']), session_options, providers=['CPUExecutionProvider']
    )
    chunks = [tokens[i : i + 256] for i in range(0, len(tokens), 256)]  # bounded memory, as the classifier
    flat = np.concatenate([tower.run(None, {'tokens': chunk})[0] for chunk in chunks])
    per_class = flat.reshape(len(table), len(text['templates']), -1).mean(1)
    per_class /= np.linalg.norm(per_class, axis=1, keepdims=True)
    if len(described) < len(names):  # the background keeps its learned weight, in its place
        at = names.index(background['name'])
        per_class = np.insert(per_class, at, np.asarray(background['embedding'], np.float32), axis=0)
    return names, per_class.astype(np.float32)
