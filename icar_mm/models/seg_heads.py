"""Text-generated cosine decode heads for MMSegmentation: mmseg's ``UPerHead``
and ``FCNHead`` with their 1x1 ``conv_seg`` replaced by the shared
:class:`~icar_mm.classifier.TextCosineClassifier` (per-pixel features
projected to the text space), plus an ``EncoderDecoder`` whose class count
follows the head's vocabulary."""

from typing import Optional

import torch
from mmseg.models.decode_heads import FCNHead, UPerHead
from mmseg.models.segmentors import EncoderDecoder

from ..classifier import TextCosineClassifier, TrainClasses, iter_classifiers
from ..registry import MODELS, build_own
from ..text.vocabulary import VocabularyLike


class TextCosineSegHeadMixin:
    """Turns an mmseg decode head into a text-generated cosine head.

    Args (besides the host head's):
        classifier: config of :class:`TextCosineClassifier`; ``in_channels``
            is filled in. Datasets with an explicit background class (VOC)
            give ``background='learned'`` and ``background_class='background'``:
            that class is scored by a learned embedding in its place.
        train_classes: optional vocabulary of the classes supervised in
            training (seen classes of a zero-shot split). Other classes leave
            the softmax and their pixels are ignored in the loss.
        num_classes: only a fallback until the classifier has a vocabulary;
            the class count follows the vocabulary (swappable at test time).
    """

    def __init__(
        self, classifier: dict, train_classes: Optional[VocabularyLike] = None, num_classes: int = 150, **kwargs
    ):
        super().__init__(num_classes=num_classes, **kwargs)
        del self.conv_seg
        classifier = dict(classifier)
        classifier.setdefault('in_channels', self.channels)
        self.classifier: TextCosineClassifier = build_own(MODELS, dict(type='TextCosineClassifier', **classifier))
        if self.classifier.background is not None and self.classifier.background_class is None:
            raise ValueError(
                'A decode head scores every pixel as one of its classes: give the '
                "background a place with background_class='background' (VOC), or "
                'use background=None when the dataset ignores background pixels (ADE20K).'
            )
        # the classifier initialises itself; drop mmseg's Normal init of conv_seg
        self.init_cfg = None
        self.train_classes = TrainClasses(train_classes)

    @property
    def num_classes(self) -> int:
        classifier = self._modules.get('classifier')
        if isinstance(classifier, TextCosineClassifier) and classifier.vocabulary is not None:
            return len(classifier.vocabulary)
        return self._num_classes

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self._num_classes = value

    @property
    def out_channels(self) -> int:
        return self.num_classes

    @out_channels.setter
    def out_channels(self, value: int) -> None:
        if value == 1:
            raise ValueError('Text-generated heads score each class; binary out_channels=1 is not supported.')

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """``[N, channels, H, W]`` -> logits ``[N, num_classes, H, W]``."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.classifier(feat.movedim(1, -1)).movedim(-1, 1)

    def loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples) -> dict:
        outside = self.train_classes.outside(self.classifier, seg_logits.device)
        if outside is not None:
            seg_logits = seg_logits.masked_fill(outside[None, :, None, None], torch.finfo(seg_logits.dtype).min / 2)
        return super().loss_by_feat(seg_logits, batch_data_samples)

    def _stack_batch_gt(self, batch_data_samples) -> torch.Tensor:
        labels = super()._stack_batch_gt(batch_data_samples)
        outside = self.train_classes.outside(self.classifier, labels.device)
        if outside is None:
            return labels
        # pixels of classes outside training are ignored, like unlabelled ones
        valid = (labels >= 0) & (labels < len(outside))
        drop = torch.zeros_like(labels, dtype=torch.bool)
        drop[valid] = outside[labels[valid].long()]
        return labels.masked_fill(drop, self.ignore_index)


@MODELS.register_module()
class TextCosineUPerHead(TextCosineSegHeadMixin, UPerHead):
    """UPerNet's decode head with the text-generated cosine classifier."""


@MODELS.register_module()
class TextCosineFCNHead(TextCosineSegHeadMixin, FCNHead):
    """FCN head (UPerNet's auxiliary head) with the text-generated cosine classifier."""


@MODELS.register_module()
class TextEncoderDecoder(EncoderDecoder):
    """mmseg's ``EncoderDecoder`` for text-generated heads.

    * The class count follows the decode head's vocabulary, so sliding-window
      inference keeps working after a vocabulary swap.
    * An auxiliary head whose classifier names no ``text_encoder`` shares the
      decode head's: one text encoder in memory, checkpoint and optimizer.
    """

    def _init_auxiliary_head(self, auxiliary_head) -> None:
        if isinstance(auxiliary_head, list):
            auxiliary_head = [self._with_shared_encoder(h) for h in auxiliary_head]
        elif auxiliary_head is not None:
            auxiliary_head = self._with_shared_encoder(auxiliary_head)
        super()._init_auxiliary_head(auxiliary_head)
        owner = getattr(self.decode_head, 'classifier', None)
        if self.with_auxiliary_head and isinstance(owner, TextCosineClassifier):
            for classifier in iter_classifiers(self.auxiliary_head):
                if classifier.text_encoder is owner.text_encoder:
                    classifier.share_text_encoder(owner)  # unregister the second reference

    def _with_shared_encoder(self, head: dict) -> dict:
        classifier = head.get('classifier')
        if not isinstance(classifier, dict) or 'text_encoder' in classifier or 'class_weights' in classifier:
            return head
        owner = getattr(self.decode_head, 'classifier', None)
        if not isinstance(owner, TextCosineClassifier) or owner.text_encoder is None:
            raise ValueError(
                'The auxiliary head names no text_encoder, so it shares the decode '
                "head's, but the decode head has no text-generated classifier with one."
            )
        return dict(head, classifier=dict(classifier, text_encoder=owner.text_encoder))

    @property
    def num_classes(self) -> int:
        return self.decode_head.num_classes

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        pass  # read from the decode head

    @property
    def out_channels(self) -> int:
        return self.decode_head.out_channels

    @out_channels.setter
    def out_channels(self, value: int) -> None:
        pass
