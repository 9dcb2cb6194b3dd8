"""The classes of any model (a model, a wrapped model or a runner): a new
vocabulary or class-weights file for every text-generated classifier, with
``model.dataset_meta`` kept in step for host visualizers and inferencers."""

import numpy as np
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from ..classifier import iter_classifiers
from ..text.vocabulary import load_vocabulary


def _bare(model):
    if isinstance(model, Runner):
        model = model.model
    return model.module if is_model_wrapper(model) else model


def _classifiers(model, what: str) -> list:
    classifiers = list(iter_classifiers(model))
    if not classifiers:
        raise ValueError(f'The model has no text-generated classifier, so {what}.')
    return classifiers


def use_class_weights(model, path: str) -> None:
    """Make every text-generated classifier of ``model`` (a model, a wrapped
    model or a runner) use an exported (or refined) class-weights file, and
    keep ``model.dataset_meta`` in step with the classes stored in it."""
    model = _bare(model)
    classifiers = _classifiers(model, f'the class weights of {path} cannot be used')
    for classifier in classifiers:
        classifier.set_class_weights(path)  # the classes stored there, kept over the dataset's
    sync_dataset_meta(model, classifiers[0].class_names)


def set_vocabulary(model, vocabulary) -> None:
    """Give every text-generated classifier of ``model`` a new vocabulary (names,
    a shipped dataset name or a file) and keep ``model.dataset_meta`` in step,
    so host visualizers and inferencers name the new classes."""
    model = _bare(model)
    vocab = load_vocabulary(vocabulary)
    classifiers = _classifiers(model, 'its classes cannot be changed')
    for classifier in classifiers:
        classifier.set_vocabulary(vocab)  # kept over the dataset's; replaces class weights used before
    sync_dataset_meta(model, vocab.names)


def sync_dataset_meta(model, names) -> None:
    """``model.dataset_meta['classes']`` = ``names``, with one palette colour per
    class (kept by index from the current palette when it has enough)."""
    meta = dict(getattr(model, 'dataset_meta', None) or {})
    meta['classes'] = tuple(names)
    if not isinstance(meta.get('palette'), (list, tuple)) or len(meta['palette']) < len(names):
        # a fixed colour per class index, as host visualizers expect one per class
        rng = np.random.RandomState(len(names))
        meta['palette'] = [tuple(int(v) for v in c) for c in rng.randint(0, 256, (len(names), 3))]
    else:
        meta['palette'] = [tuple(c) for c in list(meta['palette'])[: len(names)]]
    model.dataset_meta = meta


__all__ = ['use_class_weights', 'set_vocabulary', 'sync_dataset_meta']
