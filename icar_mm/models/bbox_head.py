"""The text-generated cosine box head for two-stage detectors (Faster / Mask /
Cascade R-CNN): mmdet's ``Shared2FCBBoxHead`` whose linear classifier is the
shared :class:`~icar_mm.classifier.TextCosineClassifier` (``classifier``)."""

from typing import Optional

import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead

from ..classifier import TextCosineClassifier, TrainClasses
from ..registry import MODELS, build_own
from ..text.vocabulary import VocabularyLike


@MODELS.register_module()
class TextCosineBBoxHead(Shared2FCBBoxHead):
    """Box head whose classes are whatever vocabulary its classifier holds.

    Args:
        classifier: config of :class:`TextCosineClassifier`; ``in_channels``
            and a learned background embedding are filled in.
        train_classes: optional vocabulary of the classes supervised in
            training. Classes of the current vocabulary outside it get zero
            weight: their logits leave the softmax and RoIs labelled with them
            are ignored (e.g. novel classes of an open-vocabulary split).
        reg_class_agnostic: one box per RoI (default), which novel classes
            need; class-specific regression fixes the class count to ``num_classes``.
        **kwargs: ``Shared2FCBBoxHead`` arguments. ``num_classes`` only sizes
            class-specific regression; the class count otherwise follows the vocabulary.
    """

    def __init__(
        self,
        classifier: dict,
        train_classes: Optional[VocabularyLike] = None,
        reg_class_agnostic: bool = True,
        num_classes: int = 80,
        **kwargs,
    ):
        # with_cls=False: mmdet builds (and initialises) no linear classifier; with it on again,
        # mmdet's forward scores with fc_cls, which is ours
        super().__init__(num_classes=num_classes, reg_class_agnostic=reg_class_agnostic, with_cls=False, **kwargs)
        self.with_cls = True
        classifier = dict(classifier)
        classifier.setdefault('in_channels', self.cls_last_dim)
        classifier.setdefault('background', 'learned')
        self.classifier: TextCosineClassifier = build_own(MODELS, dict(type='TextCosineClassifier', **classifier))
        if self.classifier.background is None:
            raise ValueError(
                "The box head needs a background logit: classifier background must be 'learned' (default) or 'zero'."
            )
        self.train_classes = TrainClasses(train_classes)

    @property
    def fc_cls(self) -> TextCosineClassifier:
        """What mmdet's ``forward`` calls: the classifier."""
        return self.classifier

    # The class count follows the classifier's vocabulary (swappable at test time).
    @property
    def num_classes(self) -> int:
        classifier = self._modules.get('classifier')
        if isinstance(classifier, TextCosineClassifier) and classifier.vocabulary is not None:
            if not self.reg_class_agnostic and len(classifier.vocabulary) != self._num_classes:
                raise ValueError(
                    f'Class-specific box regression was built for {self._num_classes} classes but the '
                    f'vocabulary has {len(classifier.vocabulary)}; use reg_class_agnostic=True '
                    'to change vocabularies.'
                )
            return len(classifier.vocabulary)
        return self._num_classes

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self._num_classes = value

    def loss(
        self, cls_score, bbox_pred, rois, labels, label_weights, bbox_targets, bbox_weights, reduction_override=None
    ) -> dict:
        outside = self.train_classes.outside(self.classifier, labels.device) if cls_score is not None else None
        if outside is not None:
            # background column stays; outside classes leave the softmax
            mask = torch.cat([outside, outside.new_zeros(cls_score.shape[-1] - len(outside))])
            cls_score = cls_score.masked_fill(mask, torch.finfo(cls_score.dtype).min / 2)
            labelled_outside = torch.zeros_like(labels, dtype=torch.bool)
            fg = labels < len(outside)
            labelled_outside[fg] = outside[labels[fg]]
            label_weights = label_weights * (~labelled_outside).to(label_weights.dtype)
        return super().loss(
            cls_score, bbox_pred, rois, labels, label_weights, bbox_targets, bbox_weights, reduction_override
        )
