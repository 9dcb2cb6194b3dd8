"""Inference with any icar_mm detector, segmentor or recogniser, as the hosts'
own apis do it (``mmdet.apis``, ``mmseg.apis``, ``mmaction.apis``), with the
classes named at run time::

    from icar_mm import init_model, inference
    model = init_model('configs/detection/....py', 'model.pth', vocabulary=['zebra', 'hot air balloon'])
    sample = inference(model, 'photo.jpg')                # a DetDataSample, as inference_detector
    samples = inference(model, ['a.jpg', 'b.jpg'], vocabulary='coco')   # another vocabulary, kept

The task follows from the config's ``default_scope`` (mmdet, mmseg or
mmaction); building and loading go through the host's own init function and
mmengine's ``load_checkpoint``, prediction through the host's inference
function. Each returned data sample also carries the class names its labels
index (``sample.classes``).
"""

import contextlib
import copy
import os
import os.path as osp
import warnings
import zipfile
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose as MMCVCompose
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DATASETS, DefaultScope
from mmengine.runner import load_checkpoint

from ..checkpoints import check_model_checkpoint
from ..classifier import iter_classifiers
from .vocabulary import _bare, set_vocabulary, sync_dataset_meta, use_class_weights

TASKS = dict(mmdet='detection', mmseg='segmentation', mmaction='recognition')
VOCABULARY_SUFFIXES = ('.txt', '.json')

InputType = Union[str, os.PathLike, np.ndarray]


def default_device() -> str:
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def task_of(config_or_model) -> str:
    """'detection', 'segmentation' or 'recognition', from the config's (or the
    model's ``cfg``) ``default_scope``."""
    cfg = config_or_model if isinstance(config_or_model, Config) else getattr(_bare(config_or_model), 'cfg', None)
    scope = cfg.get('default_scope') if cfg is not None else None
    if scope not in TASKS:
        what = 'The model has no config (model.cfg)' if cfg is None else f'default_scope {scope!r}'
        raise ValueError(
            f'{what}: init_model and inference handle detection (default_scope mmdet), '
            'segmentation (mmseg) and recognition (mmaction) configs.'
        )
    return TASKS[scope]


def _load_config(config, cfg_options: Optional[dict]) -> Config:
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if not osp.isfile(path):
            raise FileNotFoundError(f'Config {path!r} does not exist.')
        cfg = Config.fromfile(path)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)  # the hosts edit the config they build from
    else:
        raise TypeError(f'config must be a file path or an mmengine Config, got {type(config).__name__}.')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _build(cfg: Config, task: str):
    """The host's own init function, without weights (they are checked first)."""
    # each host is imported when its task runs: `import icar_mm.apis` (every tool) imports none
    if task == 'detection':
        from mmdet.apis import init_detector

        # palette='random': mmdet would build the test dataset for its palette; ours follows the classes
        def build():
            return init_detector(cfg, None, palette='random', device='cpu')
    elif task == 'segmentation':
        from mmseg.apis import init_model as init_segmentor

        def build():
            return init_segmentor(cfg, None, device='cpu')
    else:
        from mmaction.apis import init_recognizer

        def build():
            return init_recognizer(cfg, None, device='cpu')

    with warnings.catch_warnings(record=True) as caught:  # recorded as the filters let them through
        model = build()
    for w in caught:  # mmdet's "use COCO classes by default" does not apply: the classifier names them
        if 'COCO classes by default' not in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return model


def init_model(
    config: Union[str, os.PathLike, Config],
    checkpoint: Optional[str] = None,
    vocabulary=None,
    device: Optional[str] = None,
    cfg_options: Optional[dict] = None,
):
    """Build a detector, segmentor or recogniser from its config and load its weights.

    Args:
        config: config file or :class:`mmengine.Config` (not modified).
        checkpoint: weights of the whole model; checked against the model
            before loading (another task's checkpoint or missing weights raise
            :class:`icar_mm.checkpoints.CheckpointError`). None: random weights.
        vocabulary: the classes to use instead of the checkpoint's: names, a
            shipped vocabulary (``'coco'``, ``'synthetic:novel'``), a
            ``.txt``/``.json`` file, or an exported / refined class-weights
            file. None: the vocabulary saved in the checkpoint, else the
            config's (classifier or dataset classes).
        device: default ``'cuda:0'`` when available, else ``'cpu'``.
        cfg_options: config overrides, ``{'model.test_cfg.rcnn.max_per_img': 50}``.

    Returns:
        The model in eval mode, with ``model.cfg`` and ``model.dataset_meta``
        (classes and palette of the current vocabulary).
    """
    cfg = _load_config(config, cfg_options)
    task = task_of(cfg)
    model = _build(cfg, task)
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        check_model_checkpoint(model, checkpoint)
        loaded = load_checkpoint(model, checkpoint, map_location='cpu', logger='current')
        meta = (loaded.get('meta') or {}) if isinstance(loaded, dict) else {}
        dataset_meta = meta.get('dataset_meta') or ({'classes': meta['CLASSES']} if 'CLASSES' in meta else None)
        if dataset_meta:  # its palette is kept when the vocabulary is the same size
            model.dataset_meta = {k.lower(): v for k, v in dataset_meta.items()}
    if vocabulary is not None:
        apply_vocabulary(model, vocabulary)
    else:
        _default_vocabulary(model, cfg)
    model.to(device or default_device())
    model.eval()
    return model


def _default_vocabulary(model, cfg: Config) -> None:
    """The checkpoint's (or config's) vocabulary, else the config's dataset classes."""
    classifiers = list(iter_classifiers(model))
    if not classifiers:
        return  # a host head: the host's dataset_meta stays
    named = [c for c in classifiers if c.vocabulary is not None]
    if len(named) == len(classifiers):
        sync_dataset_meta(model, classifiers[0].class_names)
        return
    classes = named[0].vocabulary if named else _config_classes(cfg)
    if classes is not None:
        set_vocabulary(model, classes)


def _config_classes(cfg: Config):
    """Classes named by the config's test (else val, else train) dataset:
    ``metainfo.classes``, ``vocabulary`` (icar_mm.OVVideoDataset) or the dataset
    type's own ``METAINFO``."""
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        while isinstance(dataset, dict):
            classes = (dataset.get('metainfo') or {}).get('classes') or dataset.get('vocabulary')
            if classes:
                return classes
            inner = dataset.get('dataset') or (dataset.get('datasets') or [None])[0]
            if inner is None:
                with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
                    try:
                        dataset_type = DATASETS.get(dataset.get('type'))
                    except Exception:  # an unknown or unimportable dataset type: no classes from it
                        dataset_type = None
                classes = (getattr(dataset_type, 'METAINFO', None) or {}).get('classes')
                if classes:
                    return list(classes)
            dataset = inner
    return None


def _is_torch_file(path: str) -> bool:
    """torch.save writes a zip archive (or, in the legacy format, a pickle)."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, 'rb') as f:
        return f.read(1) == b'\x80'


def is_class_weights_file(spec) -> bool:
    """Whether a vocabulary argument names a class-weights file rather than a
    vocabulary (``.txt`` / ``.json`` files and names are vocabularies)."""
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    return (
        isinstance(spec, str)
        and osp.isfile(spec)
        and not spec.lower().endswith(VOCABULARY_SUFFIXES)
        and _is_torch_file(spec)
    )


def apply_vocabulary(model, vocabulary) -> None:
    """Give the model's classifiers ``vocabulary``: names, a shipped name, a
    ``.txt``/``.json`` file, or a class-weights file (format
    ``icar_mm.class_weights/v1``). Cheap when it is the current one, and a
    vocabulary used before is encoded from the classifier's cache."""
    if isinstance(vocabulary, os.PathLike):
        vocabulary = os.fspath(vocabulary)
    if is_class_weights_file(vocabulary):
        use_class_weights(model, vocabulary)
    else:
        set_vocabulary(model, vocabulary)


def class_names(model) -> tuple:
    """The classes the model's labels index now."""
    model = _bare(model)
    classifier = next(iter_classifiers(model), None)
    if classifier is not None:
        return tuple(classifier.class_names)
    return tuple((getattr(model, 'dataset_meta', None) or {}).get('classes') or ())


def _require_vocabulary(model, task: str) -> None:
    classifiers = list(iter_classifiers(model))
    if any(c.vocabulary is None for c in classifiers):
        raise ValueError(
            'The model has no vocabulary: its checkpoint carries none and its config names '
            'none. Pass one: init_model(..., vocabulary=[...]) or inference(model, inputs, '
            "vocabulary=['red kite', ...]) (names, a shipped vocabulary, a file)."
        )
    if task == 'segmentation' and classifiers and classifiers[0].num_classes == 1:
        # mmseg reads a one-channel prediction as a binary mask with a threshold
        raise ValueError(
            f'A segmentor needs at least two classes, got only {list(classifiers[0].class_names)}: '
            "every pixel gets one of them, so add what else is there (e.g. 'background')."
        )


def _as_input(item, task: str):
    what = 'Video' if task == 'recognition' else 'Image'
    if isinstance(item, os.PathLike):
        item = os.fspath(item)
    if isinstance(item, str):
        if not osp.isfile(item):
            raise FileNotFoundError(f'{what} file {item!r} does not exist.')
        return item
    if task != 'recognition' and isinstance(item, np.ndarray):
        return item
    if task == 'recognition' and isinstance(item, dict):
        return item  # mmaction's own input: a dict for the test pipeline
    kinds = 'a video file path' if task == 'recognition' else 'an image file path or a numpy array (H, W, 3)'
    raise TypeError(f'{task} inputs are {kinds}; got {type(item).__name__}.')


def inference(model, inputs: Union[InputType, Sequence[InputType]], vocabulary=None):
    """Predict with the host's inference function (``inference_detector``,
    ``inference_model``, ``inference_recognizer``).

    Args:
        model: from :func:`init_model` (or any host model with ``model.cfg``).
        inputs: one or a list of image paths / arrays (BGR, as the hosts
            read them) for detection and segmentation, video paths for
            recognition.
        vocabulary: as in :func:`init_model`; replaces the model's for this
            and later calls, without reloading anything.

    Returns:
        The host's data samples (``DetDataSample``, ``SegDataSample``,
        ``ActionDataSample``): one for one input, else a list in input order.
    """
    model = _bare(model)
    task = task_of(model)
    if vocabulary is not None:
        apply_vocabulary(model, vocabulary)
    _require_vocabulary(model, task)
    single = not isinstance(inputs, (list, tuple))
    items = [_as_input(x, task) for x in ([inputs] if single else inputs)]
    if not items:
        return []
    # the model's own scope, whichever host was initialised last
    with DefaultScope.overwrite_default_scope(model.cfg.get('default_scope')):
        results = _RUN[task](model, items)
    names = class_names(model)
    for sample in results:
        sample.set_metainfo(dict(classes=names))
    return results[0] if single else results


# --- the three hosts --------------------------------------------------------------------
# icar_mm.datasets imports mmaction2 (its video datasets): imported where needed, so that
# `import icar_mm.apis` stays free of every host.
def check_video(path: str) -> None:
    """Raise ``VideoReadError`` naming ``path`` and what each video back-end
    said, unless one of them opens it."""
    from ..datasets.video import VideoInit, _raise_unreadable

    opener, errors, probe = VideoInit(), [], dict(filename=path)
    opened = opener.open(probe, opener.backends, errors)
    probe.clear()
    if not opened:
        _raise_unreadable(path, errors)


@contextlib.contextmanager
def _naming_unreadable(items, kind: str):
    """Host pipelines fail on an undecodable file with errors that do not
    name it; the file is diagnosed only then (nothing is decoded twice when
    all is well)."""
    from ..datasets.images import ImageReadError, describe_unreadable

    try:
        yield
    except ImageReadError:
        raise
    except Exception as e:
        paths = [p for p in items if isinstance(p, str)]
        if kind == 'image':
            bad = [p for p in paths if cv2.imread(p, cv2.IMREAD_UNCHANGED) is None]
            if bad:
                raise ImageReadError('\n'.join(describe_unreadable(p) for p in bad)) from e
            raise
        from ..datasets.video import VideoReadError

        if isinstance(e, VideoReadError):
            raise
        for path in paths:
            try:
                check_video(path)
            except VideoReadError as named:
                raise named from e
        raise


def _is_annotation_loader(step) -> bool:
    return str(step.get('type', '')).rpartition('.')[2].endswith('Annotations')


def _detect(model, items) -> list:
    from mmdet.apis import inference_detector
    from mmdet.utils import get_test_pipeline_cfg

    pipelines, results = {}, []
    for item in items:
        from_array = isinstance(item, np.ndarray)
        if from_array not in pipelines:
            # built here, not by inference_detector: it edits the model's config in place for arrays
            steps = [s for s in copy.deepcopy(get_test_pipeline_cfg(model.cfg)) if not _is_annotation_loader(s)]
            if from_array:
                steps[0]['type'] = 'mmdet.LoadImageFromNDArray'
            pipelines[from_array] = MMCVCompose(steps)
        with _naming_unreadable([item], 'image'):
            results.append(inference_detector(model, item, test_pipeline=pipelines[from_array]))
    return results


def _segment(model, items) -> list:
    from mmseg.apis import inference_model

    results = []
    for item in items:  # one at a time: mmseg stacks a test batch only of equal image sizes
        cfg = model.cfg
        # mmseg edits cfg.test_pipeline in place (arrays); it works on a copy
        model.cfg = cfg.copy()
        model.cfg.test_pipeline = copy.deepcopy(cfg.test_pipeline)
        try:
            with _naming_unreadable([item], 'image'):
                results.append(inference_model(model, item))
        finally:
            model.cfg = cfg
    return results


def _recognize(model, items) -> list:
    from mmaction.apis import inference_recognizer

    pipeline = Compose(copy.deepcopy(model.cfg.test_pipeline))
    results = []
    for item in items:
        with _naming_unreadable([item], 'video'):
            results.append(inference_recognizer(model, item, test_pipeline=pipeline))
    return results


_RUN = dict(detection=_detect, segmentation=_segment, recognition=_recognize)

__all__ = [
    'init_model',
    'inference',
    'apply_vocabulary',
    'class_names',
    'task_of',
    'default_device',
    'is_class_weights_file',
]
