"""The text-generated cosine head for action recognition: mmaction2's
``BaseHead`` (loss, top-k training accuracy, clip / crop averaging at test)
with the shared :class:`~icar_mm.classifier.TextCosineClassifier` as its
classifier."""

from typing import Dict, Optional

import torch
import torch.nn as nn
from mmaction.models.heads.base import BaseHead

from ..classifier import TextCosineClassifier, TrainClasses
from ..registry import MODELS, build_own
from ..text.vocabulary import VocabularyLike


@MODELS.register_module()
class TextCosineRecognitionHead(BaseHead):
    """Pooled clip features -> classifier projection to the text space ->
    cosine logits against the text embeddings of the current vocabulary.

    Args:
        classifier: config of :class:`TextCosineClassifier`; ``in_channels`` is
            filled in. No ``vocabulary``: the dataset's ``metainfo['classes']``
            (add ``dict(type='icar_mm.VocabularyHook')`` to ``custom_hooks``).
        in_channels: backbone feature channels.
        train_classes: optional vocabulary of the classes supervised in
            training (e.g. ``'kinetics400:base'``). Logits of other classes of
            the current vocabulary are masked out of the loss, and clips
            labelled with them are left out of it.
        spatial_type: ``'avg'`` pools over time and space (as ``I3DHead``);
            None expects pooled ``[N, in_channels]`` features.
        dropout_ratio: dropout on the pooled features.
        num_classes: ignored (kept for configs inheriting mmaction heads): the
            class count follows the vocabulary.
        **kwargs: ``BaseHead`` arguments (``loss_cls``, ``label_smooth_eps``,
            ``topk``, ``average_clips``, ``init_cfg``).
    """

    def __init__(
        self,
        classifier: dict,
        in_channels: int,
        train_classes: Optional[VocabularyLike] = None,
        spatial_type: Optional[str] = 'avg',
        dropout_ratio: float = 0.5,
        num_classes: Optional[int] = None,
        loss_cls: Dict = dict(type='CrossEntropyLoss'),
        **kwargs,
    ):
        if spatial_type not in ('avg', None):
            raise ValueError(f"spatial_type must be 'avg' or None, got {spatial_type!r}")
        super().__init__(num_classes=num_classes, in_channels=in_channels, loss_cls=loss_cls, **kwargs)
        classifier = dict(classifier)
        classifier.setdefault('in_channels', in_channels)
        self.classifier: TextCosineClassifier = build_own(MODELS, dict(type='TextCosineClassifier', **classifier))
        if self.classifier.background is not None:
            raise ValueError('Action recognition has no background class: leave classifier background unset.')
        self.spatial_type = spatial_type
        self.dropout = nn.Dropout(p=dropout_ratio) if dropout_ratio else None
        self.train_classes = TrainClasses(train_classes)
        if train_classes is not None and self.label_smooth_eps:
            raise ValueError(
                'train_classes masks logits out of the loss, which label smoothing would '
                'give mass to: use one of label_smooth_eps and train_classes.'
            )

    # The class count follows the classifier's vocabulary (swappable at test time).
    @property
    def num_classes(self) -> Optional[int]:
        classifier = self._modules.get('classifier')
        if isinstance(classifier, TextCosineClassifier) and classifier.vocabulary is not None:
            return len(classifier.vocabulary)
        return self._num_classes

    @num_classes.setter
    def num_classes(self, value: Optional[int]) -> None:
        self._num_classes = value

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """``[N, C, T, H, W]`` (or any ``[N, C, ...]``) features -> ``[N, num_classes]`` logits."""
        if self.spatial_type == 'avg' and x.dim() > 2:
            x = x.flatten(2).mean(-1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.classifier(x.flatten(1))

    def loss_by_feat(self, cls_scores: torch.Tensor, data_samples) -> Dict:
        outside = self.train_classes.outside(self.classifier, cls_scores.device)
        if outside is not None:
            labels = torch.stack([x.gt_labels.item for x in data_samples]).to(cls_scores.device).view(-1)
            if labels.numel() != len(data_samples):
                raise ValueError('train_classes needs single-label samples (one class per clip).')
            supervised = ~outside[labels]
            if not supervised.any():
                # no supervised clip in this batch: a zero loss that keeps the graph
                return dict(loss_cls=cls_scores.sum() * 0)
            num_segs = cls_scores.shape[0] // len(data_samples)
            keep = supervised.repeat_interleave(num_segs)
            cls_scores = cls_scores[keep].masked_fill(outside, torch.finfo(cls_scores.dtype).min / 2)
            data_samples = [s for s, k in zip(data_samples, supervised.tolist()) if k]
        return super().loss_by_feat(cls_scores, data_samples)
