"""The iCAR pre-training objective as a model ``tools/train.py`` trains.

One image encoder and one text encoder, shared by two losses in every step:

* image-label data: the text-generated cosine classifier over enriched class
  prompts (the text encoder is trained through the class weights);
* image-text data: the symmetric contrastive (CLIP) loss between the projected
  image embedding and the caption embedding.

The visual projector is the classifier's projection, so both losses meet in
one joint space. :meth:`ICARPretrainer.export_icar` writes the iCAR authors'
layout (``visual_model.backbone.*`` in their Swin naming,
``visual_model.projector.weight``, ``sentence_model.*``), so our own files and
theirs go through one loading path downstream.
"""

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from ..checkpoints import to_icar_layout
from ..classifier import TextCosineClassifier
from ..registry import MODELS, build_own


@MODELS.register_module()
class ICARPretrainer(BaseModel):
    """Args:
        backbone: image encoder config (e.g. ``icar_mm.ICARSwin``); its last
            output is average-pooled.
        classifier: :class:`TextCosineClassifier` config with a *trainable*
            text encoder (``frozen=False``) and the label vocabulary.
        label_head: ``'text'``: the label loss scores with the text-generated
            cosine classifier (iCAR's deep fusion); ``'linear'``: with a plain
            linear classifier of the label classes (image classification, and
            with the image-text loss beside it, shallow fusion), which leaves
            the text encoder to the image-text loss alone.
        label_loss_weight / text_loss_weight: weights of the two losses (0
            turns one off, e.g. to pre-train without image-text data).
        contrastive_scale: initial temperature (learned, clamped at 100) of
            the image-text loss, CLIP's 1/0.07.
        data_preprocessor: e.g. ``dict(type='ImgDataPreprocessor', mean=..., std=...)``.

    A batch's ``data_samples`` is ``dict(label=[int], caption=[str])`` (as
    :class:`~icar_mm.datasets.SyntheticPretrainDataset` and ``pseudo_collate``
    give it): image-label samples have a label >= 0, image-text samples a
    non-empty caption; a batch may mix both.
    """

    def __init__(
        self,
        backbone: dict,
        classifier: dict,
        label_head: str = 'text',
        label_loss_weight: float = 1.0,
        text_loss_weight: float = 1.0,
        contrastive_scale: float = 1 / 0.07,
        data_preprocessor: Optional[dict] = None,
        init_cfg=None,
    ):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        with torch.no_grad():
            width = self.backbone(torch.zeros(1, 3, 64, 64))[-1].shape[1]
        self.classifier: TextCosineClassifier = build_own(
            MODELS, dict(type='TextCosineClassifier', **dict(classifier, in_channels=width, projection=True))
        )
        if self.classifier.text_encoder is None or not self.classifier.text_encoder.trainable:
            raise ValueError(
                'The iCAR objective trains the text encoder: give the classifier a text_encoder with frozen=False.'
            )
        if label_head not in ('text', 'linear'):
            raise ValueError(f"label_head must be 'text' (iCAR) or 'linear' (a plain classifier), got {label_head!r}")
        self.linear_head = torch.nn.Linear(width, self.classifier.num_classes) if label_head == 'linear' else None
        self.label_loss_weight, self.text_loss_weight = label_loss_weight, text_loss_weight
        self.contrastive_log_scale = torch.nn.Parameter(torch.tensor(math.log(contrastive_scale)))

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled image features ``[N, width]`` (before the projector)."""
        return self.backbone(images)[-1].mean((2, 3))

    def forward(self, inputs: torch.Tensor, data_samples: Optional[dict] = None, mode: str = 'tensor'):
        features = self.image_embeddings(inputs)
        if mode == 'loss':
            return self.loss(features, data_samples)
        if mode == 'predict':  # per image: its features (for a probe) and class scores
            scores = self.label_logits(features).softmax(-1)
            labels = data_samples['label'] if data_samples else [-1] * len(features)
            return [dict(features=f, scores=s, label=int(y)) for f, s, y in zip(features, scores, labels)]
        return features

    def label_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Scores over the label classes: text-generated or linear (``label_head``)."""
        return self.classifier(features) if self.linear_head is None else self.linear_head(features)

    def loss(self, features: torch.Tensor, data_samples: dict) -> Dict[str, torch.Tensor]:
        labels, captions = list(data_samples['label']), list(data_samples['caption'])
        labelled = [i for i, label in enumerate(labels) if label >= 0]
        captioned = [i for i, caption in enumerate(captions) if caption]
        if len(labelled) + len(captioned) != len(features):
            raise ValueError(
                'Every pre-training sample needs a label >= 0 (image-label data) or a '
                'non-empty caption (image-text data), not both and not neither.'
            )
        losses = {}
        zero = features.sum() * 0  # keeps every parameter in the graph (DDP)
        if labelled and self.label_loss_weight:
            labels = torch.tensor([labels[i] for i in labelled], device=features.device)
            logits = self.label_logits(features[labelled])
            losses['loss_label'] = self.label_loss_weight * F.cross_entropy(logits, labels)
            losses['acc_label'] = (logits.argmax(-1) == labels).float().mean()
        else:
            losses['loss_label'] = zero
        if len(captioned) > 1 and self.text_loss_weight:
            image = F.normalize(self.classifier.projection(features[captioned]), dim=-1)
            text = F.normalize(self.classifier.text_encoder([captions[i] for i in captioned]), dim=-1)
            logits = self.contrastive_log_scale.clamp(max=math.log(100)).exp() * image @ text.t()
            target = torch.arange(len(captioned), device=logits.device)
            losses['loss_text'] = (
                self.text_loss_weight * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
            )
        else:
            losses['loss_text'] = zero
        return losses

    def icar_state_dict(self) -> Dict[str, torch.Tensor]:
        """The weights in the iCAR authors' layout, which downstream loaders read."""
        return to_icar_layout(
            self.backbone.state_dict(),
            self.classifier.projection.weight,
            self.classifier.text_encoder.state_dict(),
            len(self.backbone.stages),
        )

    def export_icar(self, path: str) -> None:
        torch.save(dict(model=self.icar_state_dict()), path)  # the authors' files keep weights under 'model'
