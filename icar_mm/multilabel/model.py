"""Pseudo visual prompts (PVP) with contrastive transfer and a dual adapter.

Multi-label zero-shot recognition from text alone (after "Texts as Images in
Prompt Tuning" and "Pseudo Visual Prompts ... Dual Adapter"):

1. **Pseudo visual prompts** ``W`` ``[C, D]``: one learnable vector per class
   in the joint image-text space, trained on embeddings of multi-label
   sentences from the frozen text encoder. Because the encoder aligns texts
   with images, a sentence embedding stands in for an image feature, so ``W``
   learns how each class looks *inside scenes*, next to other classes.
2. **Contrastive transfer** to the text labels: the class text embeddings
   ``t_c`` of the shared :class:`~icar_mm.classifier.TextCosineClassifier` pass
   through a learnable *label adapter* (``t'_c = norm(t_c + A t_c + b)``,
   shared across classes, zero-initialised, or a per-class residual), trained
   to classify the same sentences and pulled towards the (detached) prompts by
   a class-level InfoNCE. Design choice: the label side is adapted in embedding
   space rather than with CoOp token contexts, which works with every text
   encoder (open_clip or HF towers, or exported class weights) and keeps the
   frozen encoder's per-vocabulary cache; the shared linear form still applies
   to any new vocabulary, as a CoOp context would.
3. **Dual adapter** at test time: image features from the frozen encoder and
   from a light residual adapter (trained when image labels exist) are scored
   against both the prompts and the adapted labels; the four logits are mixed
   with ``score_weights``. Zero-shot mode has no adapter and uses no image
   labels.
"""

from typing import Dict, List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, BaseModule, ImgDataPreprocessor
from mmengine.structures import BaseDataElement
from open_clip.model import _build_vision_tower

from ..checkpoints import load_open_clip_visual, load_projector
from ..classifier import TextCosineClassifier, save_class_weights
from ..registry import MODELS, build_own
from ..text import encoder as _registers_model_configs  # noqa: F401  (adds tiny-random-clip to open_clip)

SCORE_TERMS = ('frozen_prompt', 'frozen_text', 'adapted_prompt', 'adapted_text')


# --- image side ------------------------------------------------------------------------
@MODELS.register_module()
class PooledImageEncoder(BaseModule):
    """Any image backbone built through ``MODELS`` (``icar_mm.ICARSwin``, an mmdet
    ResNet ...), global average pooling of its last output and a bias-free
    projection to the joint space (iCAR's ``visual_model.projector``).

    Args:
        backbone: backbone config.
        in_channels: channels of the pooled feature; embed_dim: joint-space size.
        projector_checkpoint: file holding the projection (``visual_model.projector.weight``
            of an iCAR checkpoint, or ``projection.weight``); None: random.
        frozen: freeze backbone and projection.
    """

    def __init__(
        self,
        backbone: dict,
        in_channels: int,
        embed_dim: int,
        projector_checkpoint: Optional[str] = None,
        frozen: bool = True,
        init_cfg=None,
    ):
        super().__init__(init_cfg)
        self.backbone = MODELS.build(backbone)
        self.projection = nn.Linear(in_channels, embed_dim, bias=False)
        self.embed_dim, self.frozen, self.projector_checkpoint = embed_dim, frozen, projector_checkpoint
        if frozen:
            self.requires_grad_(False)

    def init_weights(self):
        super().init_weights()
        if self.projector_checkpoint:
            load_projector(self.projection, self.projector_checkpoint)

    def train(self, mode: bool = True):
        return super().train(mode and not self.frozen)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.backbone(images)
        feat = out[-1] if isinstance(out, (tuple, list)) else out
        if feat.ndim == 4:
            feat = feat.mean((2, 3))
        return self.projection(feat)


@MODELS.register_module()
class OpenCLIPImageEncoder(BaseModule):
    """The image tower of an open_clip architecture (output already in the
    joint space), e.g. ``ViT-B-32`` with the same checkpoint as the text side,
    or ``tiny-random-clip`` (random, for tests). Nothing is downloaded."""

    def __init__(
        self, model_name: str = 'ViT-B-32', checkpoint: Optional[str] = None, frozen: bool = True, init_cfg=None
    ):
        super().__init__(init_cfg)
        cfg = open_clip.get_model_config(model_name)
        if cfg is None:
            raise ValueError(f'Unknown open_clip model {model_name!r} (see open_clip.list_models()).')
        self.embed_dim = cfg['embed_dim']
        self.image_size = cfg['vision_cfg'].get('image_size', 224)
        self.visual = _build_vision_tower(self.embed_dim, cfg['vision_cfg'], quick_gelu=cfg.get('quick_gelu', False))
        self.frozen, self.checkpoint = frozen, checkpoint
        if frozen:
            self.requires_grad_(False)

    def init_weights(self):
        # pre-trained weights when training starts (a trained model's checkpoint holds them);
        # otherwise the tower keeps its own init
        if self.checkpoint:
            load_open_clip_visual(self.visual, self.checkpoint)

    def train(self, mode: bool = True):
        return super().train(mode and not self.frozen)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size) and isinstance(self.image_size, int):
            images = F.interpolate(images, size=(self.image_size,) * 2, mode='bilinear', align_corners=False)
        return self.visual(images)


@MODELS.register_module()
class MultiLabelDataPreprocessor(ImgDataPreprocessor):
    """Images: stack, normalise (``ImgDataPreprocessor``). Sentences: passed through."""

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
            samples = data.get('data_samples')
            if samples is not None:
                samples = [s.to(self.device) for s in samples]
            return dict(inputs=list(inputs), data_samples=samples)
        return super().forward(data, training)


# --- losses ------------------------------------------------------------------------------
class MultiLabelLoss(nn.Module):
    """Asymmetric loss (Ridnik et al., 2021) or plain BCE on logits; targets in
    {1, 0, -1}, -1 ignored. Summed over classes, averaged over samples.

    ``dict(type='asl', gamma_neg=4, gamma_pos=0, clip=0.05)`` or ``dict(type='bce')``.
    Ours, not mmpretrain's ``AsymmetricLoss``: mmpretrain 1.2.0's models do not
    import with transformers 5 (see requirements/runtime.txt).
    """

    def __init__(
        self,
        type: str = 'asl',
        gamma_neg: float = 4.0,
        gamma_pos: float = 0.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        loss_weight: float = 1.0,
    ):
        super().__init__()
        if type not in ('asl', 'bce'):
            raise ValueError(f"loss type must be 'asl' or 'bce', got {type!r}")
        self.type, self.gamma_neg, self.gamma_pos, self.clip = type, gamma_neg, gamma_pos, clip
        self.eps, self.loss_weight = eps, loss_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        valid = (targets >= 0).float()
        y = targets.clamp(min=0)
        if self.type == 'bce':
            loss = F.binary_cross_entropy_with_logits(logits, y, reduction='none')
        else:
            p = torch.sigmoid(logits)
            p_neg = (p - self.clip).clamp(min=0) if self.clip else p
            loss_pos = y * torch.log(p.clamp(min=self.eps)) * (1 - p).pow(self.gamma_pos)
            loss_neg = (1 - y) * torch.log((1 - p_neg).clamp(min=self.eps)) * p_neg.pow(self.gamma_neg)
            loss = -(loss_pos + loss_neg)
        return self.loss_weight * (loss * valid).sum() / max(logits.shape[0], 1)


# --- the model ---------------------------------------------------------------------------
@MODELS.register_module()
class PVPMultiLabelClassifier(BaseModel):
    """Multi-label recognition with pseudo visual prompts, transfer to text
    labels and a dual adapter (see module docstring).

    Batches of sentences (``SentenceDataset``) train the prompts and the label
    adapter; batches of images with labels (``CocoMultiLabelDataset`` ...)
    train the image adapter (and, with ``tune_on_images``, prompts and labels
    too); prediction needs images.

    Args:
        classifier: :class:`TextCosineClassifier` config: text encoder (frozen),
            ``vocabulary`` (required: one prompt per class), templates,
            ``logit_scale`` (used for every logit).
        image_encoder: config of an image encoder into the joint space
            (``icar_mm.OpenCLIPImageEncoder`` / ``icar_mm.PooledImageEncoder``); frozen.
        loss: multi-label loss, ``dict(type='asl'|'bce', ...)``.
        label_adapter: ``'linear'`` (shared, any vocabulary), ``'residual'``
            (per class) or None (text labels stay as the encoder gives them).
        text_loss_weight: the adapted labels also classify the sentences.
        transfer_weight / transfer_temperature: contrastive transfer prompts -> labels.
        image_adapter: None (zero-shot) or ``dict(reduction=4, ratio=0.2)``: a
            residual bottleneck MLP ``f + ratio * MLP(f)`` on frozen image features.
        score_weights: mixing weights of the logits ``frozen_prompt``,
            ``frozen_text``, ``adapted_prompt``, ``adapted_text`` (normalised to
            sum 1; ``adapted_*`` need an image adapter).
        tune_on_images: with image labels, also update prompts and label adapter.
    """

    def __init__(
        self,
        classifier: dict,
        image_encoder: Optional[dict] = None,
        loss: dict = dict(type='asl', gamma_neg=4.0, gamma_pos=0.0, clip=0.05),
        label_adapter: Optional[str] = 'linear',
        text_loss_weight: float = 1.0,
        transfer_weight: float = 1.0,
        transfer_temperature: float = 0.07,
        image_adapter: Optional[dict] = None,
        score_weights: Optional[Dict[str, float]] = None,
        tune_on_images: bool = False,
        data_preprocessor: Optional[dict] = None,
        init_cfg=None,
    ):
        if data_preprocessor is None:
            data_preprocessor = dict(type='icar_mm.MultiLabelDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        # frozen text side: the template ensemble, cached once per vocabulary
        self.classifier: TextCosineClassifier = build_own(
            MODELS, dict(dict(type='icar_mm.TextCosineClassifier', train_templates='ensemble'), **classifier)
        )
        if self.classifier.vocabulary is None:
            raise ValueError(
                'PVPMultiLabelClassifier learns one prompt per class, so its classifier needs '
                "a vocabulary at build time, e.g. classifier=dict(..., vocabulary='coco')."
            )
        if self.classifier.projection is not None:
            raise ValueError(
                'Image features are already in the joint space: leave classifier.in_channels '
                'unset (or equal to the text embedding size) and projection off.'
            )
        self.image_encoder = build_own(MODELS, image_encoder) if image_encoder is not None else None
        if self.image_encoder is not None and self.image_encoder.embed_dim != self.embed_dim:
            raise ValueError(
                f'image encoder gives {self.image_encoder.embed_dim}-d features but the text '
                f'encoder {self.embed_dim}-d: they must share one joint space.'
            )
        C, D = self.num_classes, self.embed_dim
        self.prompts = nn.Parameter(torch.zeros(C, D))
        self.register_buffer('prompts_ready', torch.tensor(False))
        if label_adapter not in (None, 'linear', 'residual'):
            raise ValueError(f"label_adapter must be 'linear', 'residual' or None, got {label_adapter!r}")
        self.label_adapter = label_adapter
        if label_adapter == 'linear':
            self.label_linear = nn.Linear(D, D)
            nn.init.zeros_(self.label_linear.weight)
            nn.init.zeros_(self.label_linear.bias)
        elif label_adapter == 'residual':
            self.label_residual = nn.Parameter(torch.zeros(C, D))
        if image_adapter is not None:
            image_adapter = dict(image_adapter)
            hidden = max(D // int(image_adapter.pop('reduction', 4)), 1)
            self.adapter_ratio = float(image_adapter.pop('ratio', 0.2))
            if image_adapter:
                raise ValueError(f'Unknown image_adapter keys {sorted(image_adapter)}; use reduction, ratio.')
            self.image_adapter = nn.Sequential(
                nn.Linear(D, hidden, bias=False), nn.ReLU(inplace=True), nn.Linear(hidden, D, bias=False)
            )
        else:
            self.image_adapter = None
        weights = dict(frozen_prompt=0.5, frozen_text=0.5, adapted_prompt=0.0, adapted_text=0.0)
        weights.update(score_weights or {})
        unknown = set(weights) - set(SCORE_TERMS)
        if unknown:
            raise ValueError(f'Unknown score_weights {sorted(unknown)}; known: {SCORE_TERMS}.')
        if any(weights[k] for k in ('adapted_prompt', 'adapted_text')) and self.image_adapter is None:
            raise ValueError('score_weights use adapted_* terms, which need image_adapter=dict(...).')
        if sum(weights.values()) <= 0:
            raise ValueError('score_weights must have a positive sum.')
        self.score_weights = weights
        self.loss_fn = MultiLabelLoss(**loss)
        self.text_loss_weight, self.transfer_weight = text_loss_weight, transfer_weight
        self.transfer_temperature, self.tune_on_images = transfer_temperature, tune_on_images

    # --- basic quantities --------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    @property
    def embed_dim(self) -> int:
        return self.classifier.embed_dim

    def init_weights(self):
        super().init_weights()
        self.init_prompts()

    @torch.no_grad()
    def init_prompts(self) -> None:
        """Start the prompts at the class text embeddings (also what an untrained model scores with)."""
        self.prompts.copy_(self.text_embeddings(adapted=False))
        self.prompts_ready.fill_(True)

    def text_embeddings(self, adapted: bool = True) -> torch.Tensor:
        """``[C, D]`` unit class text embeddings, through the label adapter when ``adapted``."""
        if len(self.classifier.vocabulary) != self.prompts.shape[0]:
            raise RuntimeError(
                f'The classifier now has {len(self.classifier.vocabulary)} classes but the model '
                f'learned {self.prompts.shape[0]} prompts; build a model for the new vocabulary.'
            )
        t = self.classifier.class_embeddings()
        if adapted and self.label_adapter == 'linear':
            t = t + self.label_linear(t)
        elif adapted and self.label_adapter == 'residual':
            t = t + self.label_residual
        return F.normalize(t, dim=-1)

    def prompt_embeddings(self) -> torch.Tensor:
        if not bool(self.prompts_ready):
            raise RuntimeError(
                'The pseudo visual prompts are not initialised: train the model (or call '
                'init_prompts()) or load a trained checkpoint.'
            )
        return F.normalize(self.prompts, dim=-1)

    def encode_sentences(self, sentences: Sequence[str]) -> torch.Tensor:
        """Unit embeddings of sentences from the frozen text encoder (the classifier's chunking)."""
        if self.classifier.text_encoder is None:
            raise RuntimeError(
                'Training on sentences needs the text encoder; this classifier runs from exported class weights.'
            )
        with torch.no_grad():
            return self.classifier.encode_texts(list(sentences))

    def _logits(self, features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.classifier.logits(features, weights)  # scaled cosines, as every icar_mm head

    def image_features(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.image_encoder is None:
            raise RuntimeError('This model has no image_encoder; add one to the config to score images.')
        with torch.no_grad():
            frozen = F.normalize(self.image_encoder(images).float(), dim=-1)
        feats = dict(frozen=frozen)
        if self.image_adapter is not None:
            feats['adapted'] = F.normalize(frozen + self.adapter_ratio * self.image_adapter(frozen), dim=-1)
        return feats

    def score_terms(self, feats: Dict[str, torch.Tensor], detach: bool = False) -> Dict[str, torch.Tensor]:
        """Logits of the weighted terms from joint-space features ``dict(frozen=[N, D],
        adapted=[N, D])`` (see :meth:`image_features`)."""
        need = {k for k, w in self.score_weights.items() if w}
        weights = {}
        if need & {'frozen_prompt', 'adapted_prompt'}:
            weights['prompt'] = self.prompt_embeddings()
        if need & {'frozen_text', 'adapted_text'}:
            weights['text'] = self.text_embeddings()
        if detach:
            weights = {k: v.detach() for k, v in weights.items()}
        return {term: self._logits(feats[term.split('_')[0]], weights[term.split('_')[1]]) for term in need}

    def mix(self, terms: Dict[str, torch.Tensor]) -> torch.Tensor:
        total = sum(self.score_weights[k] for k in terms)
        return sum(self.score_weights[k] * v for k, v in terms.items()) / total

    def mixed_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.mix(self.score_terms(self.image_features(images)))

    # --- forward -------------------------------------------------------------------------
    def forward(self, inputs: Union[torch.Tensor, List[str]], data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            targets = self._targets(data_samples)
            if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
                return self.sentence_losses(list(inputs), targets)
            return self.image_losses(inputs, targets)
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
            raise ValueError('Prediction scores images; sentence batches are for training.')
        logits = self.mixed_logits(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'predict':
            scores = logits.sigmoid()
            samples = data_samples if data_samples is not None else [BaseDataElement() for _ in scores]
            for sample, score in zip(samples, scores):
                sample.pred_score = score
            return samples
        raise ValueError(f'Invalid mode {mode!r}; use loss, predict or tensor.')

    def _targets(self, data_samples) -> torch.Tensor:
        if not data_samples:
            raise ValueError('Training needs data samples with gt_label.')
        targets = torch.stack([s.gt_label for s in data_samples]).float()
        if targets.shape[1] != self.num_classes:
            raise ValueError(
                f'gt_label has {targets.shape[1]} classes but the model {self.num_classes}; the '
                "dataset's classes must be the classifier's vocabulary."
            )
        return targets.to(self.prompts.device)

    def sentence_losses(self, sentences: List[str], targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.embedding_losses(self.encode_sentences(sentences), targets)

    def embedding_losses(self, s: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Losses on sentence embeddings ``s`` ``[N, D]`` (unit) with targets ``[N, C]``."""
        if not bool(self.prompts_ready):
            self.init_prompts()
        prompts = self.prompt_embeddings()
        losses = dict(loss_prompt=self.loss_fn(self._logits(s, prompts), targets))
        if self.label_adapter is not None:
            text = self.text_embeddings()
            if self.text_loss_weight:
                losses['loss_text'] = self.text_loss_weight * self.loss_fn(self._logits(s, text), targets)
            if self.transfer_weight:
                losses['loss_transfer'] = self.transfer_weight * self.transfer_loss(text, prompts.detach())
        return losses

    def transfer_loss(self, text: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """Class-level InfoNCE: each adapted label matches its own prompt, not the others'."""
        logits = text @ prompts.t() / self.transfer_temperature
        labels = torch.arange(len(text), device=text.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2

    def image_losses(self, images: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.image_adapter is None and not self.tune_on_images:
            raise RuntimeError(
                'Image batches train the image adapter (image_adapter=dict(...)) or, with '
                'tune_on_images=True, the prompts; this model has neither.'
            )
        if not bool(self.prompts_ready):
            self.init_prompts()
        terms = self.score_terms(self.image_features(images), detach=not self.tune_on_images)
        if not self.tune_on_images:  # only the adapter learns from the image labels
            terms = {k: v for k, v in terms.items() if k.startswith('adapted')}
        if not terms:
            raise RuntimeError('No trainable score term: give adapted_* a positive weight in score_weights.')
        logits = self.mix(terms)
        return dict(loss_image=self.loss_fn(logits, targets))

    # --- export --------------------------------------------------------------------------
    @torch.no_grad()
    def export_class_weights(self, path: str, which: str = 'prompts') -> None:
        """Write the learned prompts (or the adapted text labels) as an icar_mm
        class-weights file, usable by any TextCosineClassifier (``--class-weights``)."""
        emb = self.prompt_embeddings() if which == 'prompts' else self.text_embeddings()
        clf = self.classifier
        save_class_weights(path, clf.vocabulary, emb, clf.test_templates, clf.enriched)


__all__ = [
    'PVPMultiLabelClassifier',
    'PooledImageEncoder',
    'OpenCLIPImageEncoder',
    'MultiLabelDataPreprocessor',
    'MultiLabelLoss',
    'SCORE_TERMS',
]
