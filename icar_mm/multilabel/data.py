"""Multi-label datasets (sentences, COCO, VOC) and the packing transform.

Every sample packs to ``inputs`` (an image tensor, or a sentence string) and a
``BaseDataElement`` with ``gt_label``: a ``[C]`` float tensor of 1 (present),
0 (absent) and -1 (ignored: VOC's difficult-only classes).
"""

import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional, Sequence

import mmcv.transforms  # noqa: F401  (LoadImageFromFile, Resize, ... in the root registry)
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.fileio import load
from mmengine.structures import BaseDataElement

from ..registry import DATASETS, TRANSFORMS
from ..text.vocabulary import load_vocabulary
from .sentences import SHIPPED_CORPORA, corpus_vocabulary, load_sentence_file


def multi_hot(labels: Sequence[int], num_classes: int, ignored: Sequence[int] = ()) -> np.ndarray:
    target = np.zeros(num_classes, np.float32)
    target[list(ignored)] = -1
    target[list(labels)] = 1
    return target


@TRANSFORMS.register_module()
class PackMultiLabelInputs(BaseTransform):
    """Pack ``img`` (HWC, as loaded) or ``text`` and ``gt_label`` for the model."""

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'img_id', 'ori_shape', 'img_shape')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        sample = BaseDataElement(metainfo={k: results[k] for k in self.meta_keys if k in results})
        sample.gt_label = torch.as_tensor(results['gt_label'], dtype=torch.float32)
        if 'img' in results:
            img = np.ascontiguousarray(results['img'])
            img = img[..., None] if img.ndim == 2 else img
            inputs = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        elif 'text' in results:
            inputs = results['text']
        else:
            raise KeyError('PackMultiLabelInputs needs "img" (add LoadImageFromFile before it) or "text".')
        return dict(inputs=inputs, data_samples=sample)


class _MultiLabelBase(BaseDataset):
    """Classes come from ``metainfo['classes']`` or a ``vocabulary`` (dataset name, list, file)."""

    def __init__(self, *args, vocabulary=None, metainfo: Optional[dict] = None, **kwargs):
        metainfo = dict(metainfo or {})
        if vocabulary is not None:
            vocab = load_vocabulary(vocabulary)
            if 'classes' in metainfo and tuple(metainfo['classes']) != vocab.names:
                raise ValueError('Give the classes once: metainfo["classes"] and vocabulary differ.')
            metainfo['classes'] = vocab.names
        if not metainfo.get('classes'):
            raise ValueError(
                f'{type(self).__name__} needs its classes: metainfo=dict(classes=[...]) or '
                "vocabulary='coco' (any vocabulary spec)."
            )
        metainfo['classes'] = tuple(metainfo['classes'])
        super().__init__(*args, metainfo=metainfo, **kwargs)

    @property
    def num_classes(self) -> int:
        return len(self.metainfo['classes'])


@DATASETS.register_module()
class SentenceDataset(_MultiLabelBase):
    """Sentences with class labels: ``sentence<TAB>label1,label2`` lines, or a
    shipped corpus (``ann_file='coco80'`` / ``'voc20'`` / ``'nuswide81'``, whose
    vocabulary is used when none is given)."""

    def __init__(
        self,
        ann_file: str,
        vocabulary=None,
        metainfo: Optional[dict] = None,
        pipeline=(dict(type='icar_mm.PackMultiLabelInputs'),),
        **kwargs,
    ):
        if vocabulary is None and not (metainfo or {}).get('classes') and ann_file in SHIPPED_CORPORA:
            vocabulary = corpus_vocabulary(ann_file)
        super().__init__(ann_file=ann_file, vocabulary=vocabulary, metainfo=metainfo, pipeline=list(pipeline), **kwargs)

    def _join_prefix(self):
        # a shipped corpus name is not a path under data_root
        if (
            self.ann_file not in SHIPPED_CORPORA
            or self.data_root
            and osp.isfile(osp.join(self.data_root, self.ann_file))
        ):
            super()._join_prefix()

    def load_data_list(self) -> List[dict]:
        n = self.num_classes
        return [
            dict(text=text, gt_label=multi_hot(labels, n))
            for text, labels in load_sentence_file(self.ann_file, self.metainfo['classes'])
        ]


@DATASETS.register_module()
class CocoMultiLabelDataset(_MultiLabelBase):
    """Images of a COCO instances json with the set of their box categories as
    targets. Category names must be classes (``metainfo['classes']``, default:
    the json's categories); images without any listed object are kept
    (all-negative) unless ``drop_empty``."""

    def __init__(
        self,
        ann_file: str,
        vocabulary=None,
        metainfo: Optional[dict] = None,
        data_prefix: dict = dict(img=''),
        drop_empty: bool = False,
        **kwargs,
    ):
        self.drop_empty = drop_empty
        if vocabulary is None and not (metainfo or {}).get('classes'):
            path = osp.join(kwargs.get('data_root') or '', ann_file)
            metainfo = dict(
                metainfo or {}, classes=[c['name'] for c in sorted(load(path)['categories'], key=lambda c: c['id'])]
            )
        super().__init__(ann_file=ann_file, vocabulary=vocabulary, metainfo=metainfo, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        data = load(self.ann_file)
        for key in ('images', 'annotations', 'categories'):
            if key not in data:
                raise KeyError(f'{self.ann_file!r} has no "{key}": expected a COCO instances json.')
        index = {n: i for i, n in enumerate(self.metainfo['classes'])}
        cat_to_label = {c['id']: index.get(c['name']) for c in data['categories']}
        if not any(v is not None for v in cat_to_label.values()):
            raise ValueError(
                f'None of the categories of {self.ann_file!r} '
                f'({[c["name"] for c in data["categories"]][:5]} ...) is a class of this dataset '
                f'({list(self.metainfo["classes"])[:5]} ...); check metainfo/vocabulary.'
            )
        labels = {img['id']: set() for img in data['images']}
        for ann in data['annotations']:
            label = cat_to_label.get(ann['category_id'])
            if label is not None and ann['image_id'] in labels:
                labels[ann['image_id']].add(label)
        out = []
        for img in data['images']:
            if self.drop_empty and not labels[img['id']]:
                continue
            out.append(
                dict(
                    img_path=osp.join(self.data_prefix['img'], img['file_name']),
                    img_id=img['id'],
                    gt_label=multi_hot(sorted(labels[img['id']]), self.num_classes),
                )
            )
        return out


@DATASETS.register_module()
class VOCMultiLabelDataset(_MultiLabelBase):
    """PASCAL VOC (2007) image-level labels from ``Annotations/*.xml``: a class is
    1 when a non-difficult object of it is present, -1 (ignored) when only
    difficult ones are (the VOC protocol), else 0.

    ``data_root`` is the ``VOC2007`` folder; ``ann_file`` an image-set list
    such as ``ImageSets/Main/test.txt``.
    """

    def __init__(
        self,
        ann_file: str = 'ImageSets/Main/test.txt',
        vocabulary=None,
        metainfo: Optional[dict] = None,
        data_prefix: dict = dict(img='JPEGImages', ann='Annotations'),
        **kwargs,
    ):
        if vocabulary is None and not (metainfo or {}).get('classes'):
            vocabulary = corpus_vocabulary('voc20')
        super().__init__(ann_file=ann_file, vocabulary=vocabulary, metainfo=metainfo, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        with open(self.ann_file) as f:
            ids = [line.split()[0] for line in f if line.strip()]
        index = {n: i for i, n in enumerate(self.metainfo['classes'])}
        out = []
        for img_id in ids:
            xml = osp.join(self.data_prefix['ann'], f'{img_id}.xml')
            if not osp.isfile(xml):
                raise FileNotFoundError(
                    f'{xml!r} is missing: {self.ann_file!r} lists image {img_id!r}. '
                    'data_root must be the VOC2007 folder (Annotations/, JPEGImages/).'
                )
            present, difficult = set(), set()
            for obj in ET.parse(xml).getroot().findall('object'):
                name = obj.findtext('name', '').strip()
                if name not in index:
                    raise ValueError(
                        f'{xml!r}: object class {name!r} is not one of the dataset classes {list(index)[:5]} ...'
                    )
                (difficult if obj.findtext('difficult', '0').strip() == '1' else present).add(index[name])
            out.append(
                dict(
                    img_path=osp.join(self.data_prefix['img'], f'{img_id}.jpg'),
                    img_id=img_id,
                    gt_label=multi_hot(sorted(present), self.num_classes, sorted(difficult - present)),
                )
            )
        return out


__all__ = ['SentenceDataset', 'CocoMultiLabelDataset', 'VOCMultiLabelDataset', 'PackMultiLabelInputs', 'multi_hot']
