"""Pre-training data of the embedded world, rendered on the fly (deterministic
per index): image-label samples (one base-class object per image) and
image-text samples (scenes of several objects, with a caption that names them
all, novel classes included)."""

from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..registry import DATASETS
from .synthetic import ALL_CLASSES, BASE_CLASSES, PLACEMENTS, caption_of, render_scene


@DATASETS.register_module()
class SyntheticPretrainDataset(Dataset):
    """``num_labelled`` image-label samples, then ``num_captioned`` image-text
    samples; their ratio is the batch mix. Items are
    ``dict(inputs=uint8 CHW tensor, data_samples=dict(label=int, caption=str))``
    with ``label=-1`` on image-text samples and ``caption=''`` on image-label
    ones (use ``collate_fn=dict(type='pseudo_collate')``: a batch's
    ``data_samples`` is then ``dict(label=[...], caption=[...])``).

    Args:
        label_classes: classes of the labelled images (labels index this list).
        caption_classes: classes drawn in captioned scenes (may include novel ones).
        placement: where objects sit (:func:`render_scene`): ``'grid'``, the
            world's own, or ``'anywhere'`` / ``'centre'`` to measure what
            position does to what a model learns.
    """

    def __init__(
        self,
        num_labelled: int = 2048,
        num_captioned: int = 2048,
        size: int = 64,
        seed: int = 0,
        label_classes: Sequence[str] = BASE_CLASSES,
        caption_classes: Sequence[str] = ALL_CLASSES,
        max_objects: int = 3,
        placement: str = 'grid',
        metainfo: Optional[dict] = None,
    ):
        if placement not in PLACEMENTS:
            raise ValueError(f'placement must be one of {PLACEMENTS}, got {placement!r}')
        self.num_labelled, self.num_captioned = num_labelled, num_captioned
        self.size, self.seed, self.max_objects, self.placement = size, seed, max_objects, placement
        self.label_classes, self.caption_classes = list(label_classes), list(caption_classes)
        self.metainfo = dict(classes=tuple(label_classes), **(metainfo or {}))

    def __len__(self) -> int:
        return self.num_labelled + self.num_captioned

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index])
        labelled = index < self.num_labelled
        while True:  # a scene always gets its first object; retry is a safeguard
            img, objects = render_scene(
                rng,
                self.size,
                self.label_classes if labelled else self.caption_classes,
                max_objects=1 if labelled else self.max_objects,
                placement=self.placement,
            )
            if objects:
                break
        sample = (
            dict(label=self.label_classes.index(objects[0]['name']), caption='')
            if labelled
            else dict(label=-1, caption=caption_of(objects))
        )
        return dict(inputs=torch.from_numpy(img).permute(2, 0, 1).contiguous(), data_samples=sample)
