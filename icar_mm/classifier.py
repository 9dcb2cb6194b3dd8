"""THE text-generated cosine classifier, shared by every icar_mm head.

    logits = exp(logit_scale) * cos(P f, w_c)      w_c = normalise(text_encoder(prompts of class c))

Detection, segmentation and action heads differ only in where ``f`` comes
from and how the loss is applied; all of them call this module.

Class embeddings:
  * test (and frozen training with ``train_templates='ensemble'``): the
    template ensemble (each prompt normalised, averaged, renormalised);
  * training with ``train_templates='random'``: one random template per class
    per step (from the cached per-template embeddings when the encoder is frozen);
  * trainable text encoder in training: recomputed every step with gradients,
    chunked over classes with activation checkpointing to bound memory; with
    several processes each encodes about 1/N of the prompts and they gather
    the embeddings with gradients (as the iCAR authors' video head does).
Frozen-encoder embeddings are cached per (vocabulary, templates, prompt style,
encoder weights, device), so the text encoder runs once per vocabulary, never
per forward; the ensemble is derived from a per-template table already encoded,
and classifiers sharing one encoder share its cache.
"""

import base64
import contextlib
import json
import math
from collections import OrderedDict
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import broadcast, get_rank, get_world_size
from mmengine.model import BaseModule
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from .checkpoints import load_projector, read_checkpoint
from .registry import MODELS, build_own
from .text.vocabulary import Vocabulary, VocabularyLike, get_templates, load_vocabulary

CLASS_WEIGHTS_FORMAT = 'icar_mm.class_weights/v1'


@MODELS.register_module()
class TextCosineClassifier(BaseModule):
    """Cosine classifier whose class weights come from a text encoder.

    Args:
        text_encoder: config (or module) of a text encoder, e.g.
            ``dict(type='icar_mm.OpenCLIPTextEncoder', model_name='ViT-B-32')``.
            May be None when ``class_weights`` is given.
        vocabulary: dataset name, list of names, or file (see
            :mod:`icar_mm.text.vocabulary`). None: taken from the dataset's
            ``metainfo['classes']`` by :class:`icar_mm.engine.VocabularyHook`.
        in_channels: visual feature size. A bias-free linear projection to the
            text space is added when it differs from the text embedding size
            or when ``projection=True``.
        templates / test_templates: template set name or list (test defaults
            to ``templates``).
        enriched: prompts with class descriptions (iCAR) or plain names.
        train_templates: ``'random'`` (one template per class per step) or
            ``'ensemble'``.
        logit_scale: initial scale (1/0.05); ``learnable_scale`` makes
            ``log(scale)`` a parameter, clamped at ``max_logit_scale`` (1/0.01).
        background: ``None``, ``'learned'`` (a learned embedding) or ``'zero'``
            (a constant zero logit). Its logit is appended last (mmdet
            convention) unless ``background_class`` names its place.
        background_class: a class name (e.g. ``'background'`` of VOC) that the
            background embedding scores in place, at its position in the
            vocabulary, instead of a text embedding; vocabularies without it
            simply have no background.
        bias: None, or the initial value of a learned scalar bias on class logits.
        class_weights: exported class-weights file: run from it with no text
            encoder in memory.
        projector_checkpoint: iCAR checkpoint whose image projector
            (``visual_model.projector.weight``) initialises ``projection`` when
            training starts (``init_weights``), as the iCAR video head does;
            None: a fresh projection (as their segmentation head).
        text_chunk_size: prompts per text-encoder batch.
    """

    def __init__(
        self,
        text_encoder: Union[dict, nn.Module, None] = None,
        vocabulary: Optional[VocabularyLike] = None,
        in_channels: Optional[int] = None,
        projection: Optional[bool] = None,
        templates: Union[str, Sequence[str]] = 'single',
        test_templates: Union[str, Sequence[str], None] = None,
        enriched: bool = True,
        train_templates: str = 'random',
        logit_scale: float = 1 / 0.05,
        learnable_scale: bool = False,
        max_logit_scale: float = 1 / 0.01,
        background: Optional[str] = None,
        background_class: Optional[str] = None,
        bias: Optional[float] = None,
        class_weights: Optional[str] = None,
        projector_checkpoint: Optional[str] = None,
        text_chunk_size: int = 256,
        init_cfg=None,
    ):
        super().__init__(init_cfg)
        if text_encoder is None and class_weights is None:
            raise ValueError(
                'TextCosineClassifier needs a text_encoder config, or exported class_weights to run without one.'
            )
        if train_templates not in ('random', 'ensemble'):
            raise ValueError(f"train_templates must be 'random' or 'ensemble', got {train_templates!r}")
        if background not in (None, 'learned', 'zero'):
            raise ValueError(f"background must be None, 'learned' or 'zero', got {background!r}")
        self.text_encoder = build_own(MODELS, text_encoder) if text_encoder is not None else None
        self.templates = get_templates(templates)
        self.test_templates = get_templates(test_templates) if test_templates else self.templates
        self.enriched = enriched
        self.train_templates = train_templates
        self.text_chunk_size = text_chunk_size
        self.background = background
        if background_class is not None and background is None:
            raise ValueError(f"background_class={background_class!r} needs background='learned' or 'zero'.")
        self.background_class = background_class
        self._exported: Optional[torch.Tensor] = None  # [C, D] when running from exported weights
        self._cache: 'OrderedDict[tuple, torch.Tensor]' = OrderedDict()
        self._text_vocab: tuple = (None, None)
        self._template_rng: Optional[torch.Generator] = None
        self.last_class_weights: Optional[torch.Tensor] = None  # of the last training forward

        if class_weights is not None:
            vocab, embeddings = load_class_weights(class_weights)
            if vocabulary is not None and load_vocabulary(vocabulary).names != vocab.names:
                raise ValueError(
                    f'vocabulary does not match the classes stored in {class_weights!r}; '
                    'leave vocabulary unset to use the exported classes.'
                )
            self.embed_dim = embeddings.shape[1]
            self.vocabulary, self._exported = vocab, embeddings
        else:
            self.embed_dim = self.text_encoder.embed_dim
            self.vocabulary = load_vocabulary(vocabulary) if vocabulary is not None else None
        self._follows_dataset = vocabulary is None and class_weights is None

        in_channels = in_channels or self.embed_dim
        if projection is None:
            projection = in_channels != self.embed_dim
        self.in_channels = in_channels
        self.projection = nn.Linear(in_channels, self.embed_dim, bias=False) if projection else None
        if projector_checkpoint and self.projection is None:
            raise ValueError(
                f'projector_checkpoint={projector_checkpoint!r} needs a projection, but the '
                f'features ({in_channels}-d) are used as they are: set projection=True.'
            )
        self.projector_checkpoint = projector_checkpoint
        log_scale = torch.tensor(math.log(logit_scale))
        if learnable_scale:
            self.logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer('logit_scale', log_scale)
        self.max_log_scale = math.log(max_logit_scale)
        if background == 'learned':
            self.background_embedding = nn.Parameter(F.normalize(torch.randn(self.embed_dim), dim=0))
        self.bias = nn.Parameter(torch.tensor(float(bias))) if bias is not None else None

    def init_weights(self):
        super().init_weights()
        if self.projector_checkpoint:
            load_projector(self.projection, self.projector_checkpoint)

    # --- vocabulary -----------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        self._require_vocabulary()
        return len(self.vocabulary)

    @property
    def class_names(self):
        self._require_vocabulary()
        return self.vocabulary.names

    @property
    def follows_dataset(self) -> bool:
        """Whether :class:`~icar_mm.engine.VocabularyHook` gives this classifier the
        classes of each dataset: until a vocabulary is named (in the config, by
        :meth:`set_vocabulary` or by class weights)."""
        return self._follows_dataset

    def set_vocabulary(self, vocabulary: VocabularyLike, follow_dataset: bool = False) -> None:
        """Swap the classes at any time (open vocabulary). They are kept over the
        dataset's unless ``follow_dataset`` (the dataset's own, as VocabularyHook sets them)."""
        vocab = load_vocabulary(vocabulary)
        if vocab == self.vocabulary and self._exported is None:
            self._follows_dataset = follow_dataset
            return
        if self.text_encoder is None:
            raise RuntimeError(
                'This classifier runs from exported class weights and has no text '
                'encoder; use set_class_weights(file) or build it with a text_encoder.'
            )
        # back to text embeddings after set_class_weights
        self.vocabulary, self._exported, self._follows_dataset = vocab, None, follow_dataset

    def set_class_weights(self, path: str) -> None:
        """Use exported (or refined) class weights instead of the text encoder."""
        vocab, embeddings = load_class_weights(path)
        if embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f'{path!r} holds {embeddings.shape[1]}-d class weights, but this '
                f'classifier works in {self.embed_dim}-d; export them from a model '
                'with the same text embedding size.'
            )
        self.vocabulary, self._exported, self._follows_dataset = vocab, embeddings, False

    def share_text_encoder(self, owner: 'TextCosineClassifier') -> None:
        """Encode prompts with ``owner``'s text encoder (e.g. an auxiliary head
        sharing the main head's): one encoder in memory, saved and optimised
        once, through its owner; and one cache of its frozen embeddings (keyed
        by everything they depend on), so a vocabulary is encoded once for both."""
        if owner.text_encoder is None or owner.embed_dim != self.embed_dim:
            raise ValueError(
                f'share_text_encoder needs an owner with a text encoder of the same embedding size ({self.embed_dim}).'
            )
        self._modules.pop('text_encoder', None)
        object.__setattr__(self, 'text_encoder', owner.text_encoder)  # not registered: not a child
        self._cache = owner._cache

    def _require_vocabulary(self):
        if self.vocabulary is None:
            raise RuntimeError(
                'The classifier has no vocabulary yet: name one in the config (vocabulary=...), '
                "add dict(type='icar_mm.VocabularyHook') to custom_hooks to take the dataset's "
                "metainfo['classes'], or call set_vocabulary(...)."
            )

    # --- class embeddings -----------------------------------------------------------
    def encode_texts(self, texts: Sequence[str], grad: bool = False) -> torch.Tensor:
        """Unit embeddings of any texts (prompts, captions), ``text_chunk_size``
        at a time to bound memory; activation-checkpointed when ``grad``."""
        enc = self.text_encoder
        tokens = enc.tokenize(texts).to(enc.device)
        out = []
        for chunk in tokens.split(self.text_chunk_size):
            if grad:
                out.append(activation_checkpoint(enc.encode_tokens, chunk, use_reentrant=False))
            else:
                out.append(enc.encode_tokens(chunk))
        return F.normalize(torch.cat(out).float(), dim=-1)

    def _background_position(self) -> Optional[int]:
        """Index of ``background_class`` in the current vocabulary, if there."""
        names = self.vocabulary.names
        return names.index(self.background_class) if self.background_class in names else None

    def _text_vocabulary(self) -> Vocabulary:
        """The classes scored by text embeddings (all but an in-place background)."""
        if self._text_vocab[0] is not self.vocabulary:  # memo: runs on every forward
            pos = self._background_position()
            names = self.vocabulary.names
            text = self.vocabulary if pos is None else self.vocabulary.subset(names[:pos] + names[pos + 1 :])
            self._text_vocab = (self.vocabulary, text)
        return self._text_vocab[1]

    def _prompt_table(self, templates):
        """[C][T] prompts for the text classes of the current vocabulary."""
        return self._text_vocabulary().prompts(templates, self.enriched)

    def _cached(self, kind: str, templates) -> torch.Tensor:
        enc = self.text_encoder
        key = (kind, self._text_vocabulary().fingerprint, templates, self.enriched, enc.weights_stamp(), enc.device)
        if key not in self._cache:
            per_template = self._cache.get(('per_template',) + key[1:])  # training's table gives validation's ensemble
            if per_template is None:
                with torch.no_grad():
                    table = self._prompt_table(templates)
                    flat = self.encode_texts([p for row in table for p in row])
                    per_template = flat.view(len(table), len(templates), -1)
            self._cache[key] = per_template if kind == 'per_template' else F.normalize(per_template.mean(1), dim=-1)
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return self._cache[key]

    def _background_weight(self) -> torch.Tensor:
        if self.background == 'learned':
            return F.normalize(self.background_embedding, dim=0)
        return self.logit_scale.new_zeros(self.embed_dim)  # cos = 0: a constant zero logit

    def class_embeddings(self) -> torch.Tensor:
        """``[num_classes, embed_dim]`` class weights for this step (text
        classes L2-normalised; an in-place background class is its embedding)."""
        self._require_vocabulary()
        if self._exported is not None:
            if self._exported.device != self.logit_scale.device:
                self._exported = self._exported.to(self.logit_scale.device)
            return self._exported
        text = self._text_class_embeddings()
        pos = self._background_position()
        if pos is None:
            return text
        bg = self._background_weight().to(text)[None]
        return torch.cat([text[:pos], bg, text[pos:]])

    @contextlib.contextmanager
    def scoring_with(self, embeddings: torch.Tensor):
        """Score with the ``[C, embed_dim]`` class weights ``embeddings`` inside
        the block (e.g. a graph input, or constants, of an ONNX export)."""
        saved = self._exported
        self._exported = embeddings
        try:
            yield self
        finally:
            self._exported = saved

    def _text_class_embeddings(self) -> torch.Tensor:
        if not self.training:
            return self._cached('ensemble', self.test_templates)
        trainable = self.text_encoder.trainable and torch.is_grad_enabled()
        if self.train_templates == 'ensemble':
            if not trainable:
                return self._cached('ensemble', self.templates)
            table = self._prompt_table(self.templates)
            flat = self._encode_shared([p for row in table for p in row])
            return F.normalize(flat.view(len(table), len(self.templates), -1).mean(1), dim=-1)
        choice = torch.randint(
            len(self.templates), (len(self._text_vocabulary()),), generator=self._template_generator()
        )
        if not trainable:
            per_template = self._cached('per_template', self.templates)
            return per_template[torch.arange(len(choice)), choice.to(per_template.device)]
        table = self._prompt_table(self.templates)
        return self._encode_shared([row[i] for row, i in zip(table, choice.tolist())])

    def _encode_shared(self, prompts: Sequence[str]) -> torch.Tensor:
        """Embeddings of ``prompts`` with gradients through the text encoder. With
        N processes (the same prompts on every rank) each encodes a contiguous
        share of about 1/N and the shares are gathered with gradients; the
        backward sums every rank's gradient of its share, so after the data
        parallel average every gradient equals one process encoding them all."""
        world = get_world_size()
        if world == 1 or len(prompts) < world:  # every rank needs a share, or DDP finds the tower unused
            return self.encode_texts(prompts, grad=True)
        sizes = [len(prompts) // world + (r < len(prompts) % world) for r in range(world)]
        start = sum(sizes[: get_rank()])
        share = self.encode_texts(prompts[start : start + sizes[get_rank()]], grad=True)
        padded = F.pad(share, (0, 0, 0, sizes[0] - len(share)))  # all_gather takes equal shapes
        gathered = _GatherShares.apply(padded).view(world, sizes[0], -1)
        return torch.cat([gathered[r, :n] for r, n in enumerate(sizes)])

    def _template_generator(self) -> torch.Generator:
        """The classifier's own random stream for template choices, seeded alike
        on every process: all ranks draw the same templates, whatever else each
        one draws (its data, its RoI sampling), so their class weights stay
        identical; its state is saved with the weights, so a resumed run
        continues the stream."""
        if self._template_rng is None:
            seed = torch.tensor(torch.initial_seed() % 2**62)
            broadcast(seed)  # no-op without a process group
            self._template_rng = torch.Generator().manual_seed(int(seed))
        return self._template_rng

    # --- forward ----------------------------------------------------------------------
    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., in_channels]`` -> logits ``[..., num_classes (+1 background)]``."""
        if features.shape[-1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} takes {self.in_channels}-d visual features (in_channels), but got features '
                f'of shape {tuple(features.shape)}: set in_channels to the width of what reaches the head (the '
                "neck's channels, or the backbone's last stage)."
            )
        # the check reads values, which an export (a traced graph) cannot
        if not self.training and not torch.compiler.is_compiling() and not torch.isfinite(features).all():
            bad = int((~torch.isfinite(features)).any(dim=-1).sum())
            raise FloatingPointError(
                f'{type(self).__name__}: {bad} of {features[..., 0].numel()} visual feature vectors hold NaN or '
                'inf, so their scores would be NaN: the model or its checkpoint is broken upstream of the head '
                '(check the weights loaded, and the input images for NaN).'
            )
        if self.projection is not None:
            features = self.projection(features)
        weights = self.class_embeddings()
        if self.training:  # what this step scored with (checked across ranks by DistributedCheckHook)
            self.last_class_weights = weights.detach()
        appended = self.background is not None and self.background_class is None
        if appended and self.background == 'learned':
            weights = torch.cat([weights, self._background_weight()[None].to(weights)])
        logits = self.logits(features, weights)
        if appended and self.background == 'zero':
            logits = torch.cat([logits, logits.new_zeros(logits.shape[:-1] + (1,))], dim=-1)
        return logits

    def logits(self, features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``scale * cos(features, weights) (+ bias)``: features ``[..., embed_dim]``
        (already in the text space), unit weights ``[C, embed_dim]``. In float32
        also under autocast: a cosine scaled by 20 to 100 in bfloat16 (8
        significant bits) would be off by up to a logit."""
        with torch.autocast(features.device.type, enabled=False):
            features, weights = features.float(), weights.float()
            # normalise and scale the features in one pass: the [C, D] weights are used as cached
            norm = features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            logits = F.linear(features * (self.scale() / norm), weights)
            return logits + self.bias if self.bias is not None else logits

    # --- export --------------------------------------------------------------------
    @torch.no_grad()
    def export_class_weights(self, path: str) -> None:
        """Write the test-time class weights of the current vocabulary."""
        was_training = self.training
        self.eval()
        try:
            embeddings = self.class_embeddings()
        finally:
            self.train(was_training)
        save_class_weights(path, self.vocabulary, embeddings, self.test_templates, self.enriched)

    # --- persistence: the vocabulary travels with the weights ---------------------------
    # Kept as one uint8 tensor of JSON: mmengine broadcasts every state-dict entry
    # as a tensor when it starts multi-process training.
    def get_extra_state(self) -> torch.Tensor:
        state = dict(vocabulary=self.vocabulary.to_dict() if self.vocabulary is not None else None)
        if self._template_rng is not None:
            state['template_rng'] = base64.b64encode(self._template_rng.get_state().numpy().tobytes()).decode()
        return torch.frombuffer(bytearray(json.dumps(state).encode()), dtype=torch.uint8)

    def set_extra_state(self, state):
        if isinstance(state, torch.Tensor):
            state = json.loads(state.cpu().numpy().tobytes().decode())
        state = state or {}
        if state.get('template_rng') is not None:
            self._template_rng = torch.Generator()
            self._template_rng.set_state(
                torch.frombuffer(bytearray(base64.b64decode(state['template_rng'])), dtype=torch.uint8)
            )
        saved = state.get('vocabulary')
        # A vocabulary named in the config wins; otherwise adopt the checkpoint's
        # (e.g. inference with no dataset at hand).
        if saved is not None and self.follows_dataset and self._exported is None:
            self.vocabulary = load_vocabulary(saved['classes'])

    def extra_repr(self) -> str:
        n = len(self.vocabulary) if self.vocabulary is not None else 'dataset'
        return (
            f'classes={n}, embed_dim={self.embed_dim}, templates={len(self.templates)}, '
            f'enriched={self.enriched}, background={self.background}, '
            f'exported={self._exported is not None}'
        )


class _GatherShares(torch.autograd.Function):
    """``all_gather`` of equal-shape shares along dim 0 that gradients flow
    through: the backward all-reduces (sums) the gradient of the gathered
    tensor and returns this rank's rows."""

    @staticmethod
    def forward(ctx, share: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(share) for _ in range(get_world_size())]
        torch.distributed.all_gather(parts, share.contiguous())
        ctx.rows = share.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)
        start = get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def _check_class_weights(vocab: Vocabulary, emb, path: Optional[str] = None) -> None:
    """The checks of the class-weights format, the same on write (``path``
    None: the caller's tensor is at fault) and on read (the file is)."""
    where, whose, fix = (
        (f'{path!r}: ', 'its', 'the file is damaged, export it again')
        if path
        else ('', 'the', 'expected [num_classes, embed_dim]')
    )
    if not isinstance(emb, torch.Tensor) or emb.ndim != 2 or emb.shape[0] != len(vocab):
        shape = tuple(emb.shape) if isinstance(emb, torch.Tensor) else type(emb).__name__
        raise ValueError(
            f'{where}class weights of shape {shape} do not match {whose} {len(vocab)} classes of the vocabulary; {fix}.'
        )
    if not torch.isfinite(emb).all():
        raise ValueError(
            f'{where}class weights contain NaN or infinite values; {fix if path else "refusing to write them"}.'
        )


def save_class_weights(
    path: str,
    vocabulary: VocabularyLike,
    embeddings: torch.Tensor,
    templates: Sequence[str] = (),
    enriched: bool = True,
    normalize: bool = False,
    **extra,
) -> None:
    """Write ``[C, D]`` class weights of ``vocabulary`` as a class-weights file,
    what ``class_weights=``, ``set_class_weights`` and ``--class-weights`` read.
    ``normalize`` makes the rows unit vectors (zero rows stay zero); ``extra``
    entries (e.g. ``refinement``: how the weights were obtained) are stored beside."""
    vocab = load_vocabulary(vocabulary)
    _check_class_weights(vocab, embeddings)
    emb = embeddings.detach().float().cpu()
    if normalize:
        emb = F.normalize(emb, dim=1)
    torch.save(
        dict(
            extra,
            format=CLASS_WEIGHTS_FORMAT,
            vocabulary=vocab.to_dict(),
            templates=list(templates),
            enriched=bool(enriched),
            embeddings=emb.contiguous(),
        ),
        path,
    )


def load_class_weights(path: str):
    """Read an exported class-weights file -> (Vocabulary, [C, D] tensor)."""
    data = read_checkpoint(path)
    if not isinstance(data, dict) or data.get('format') != CLASS_WEIGHTS_FORMAT:
        raise ValueError(
            f'{path!r} is not an icar_mm class-weights file (expected format '
            f'{CLASS_WEIGHTS_FORMAT!r}); write one with '
            'TextCosineClassifier.export_class_weights or tools/refine_class_weights.py.'
        )
    vocab = load_vocabulary(data['vocabulary']['classes'])
    emb = data['embeddings']
    _check_class_weights(vocab, emb, path)
    emb = emb.float()
    # exported weights are unit vectors already (a zero row is an in-place zero
    # background): renormalising would change the last bits
    norms = emb.norm(dim=-1)
    if not torch.all((norms - 1).abs().le(1e-5) | norms.eq(0)):
        emb = F.normalize(emb, dim=-1)
    return vocab, emb


class TrainClasses:
    """The classes supervised in training, as a mask over whatever vocabulary
    the classifier holds now (an open-vocabulary split trains on base classes
    only; heads take the other classes out of the loss). An in-place
    background class always counts as supervised."""

    def __init__(self, classes: Optional[VocabularyLike]):
        self.names = load_vocabulary(classes).names if classes is not None else None
        self._memo = (None, None)

    def outside(self, classifier: 'TextCosineClassifier', device) -> Optional[torch.Tensor]:
        """Bool mask over ``classifier.class_names``: classes not supervised
        in training; None when every class is."""
        if self.names is None:
            return None
        names = classifier.class_names
        if self._memo[0] != names:
            unknown = [n for n in self.names if n not in names]
            if unknown:
                raise ValueError(
                    f'train_classes {unknown[:5]} are not in the current vocabulary '
                    f'({len(names)} classes); train_classes must be a subset of it.'
                )
            keep = set(self.names) | {classifier.background_class}
            mask = torch.tensor([n not in keep for n in names])
            self._memo = (names, mask if mask.any() else None)
        mask = self._memo[1]
        return mask.to(device) if mask is not None else None


def iter_classifiers(model: nn.Module):
    return (m for m in model.modules() if isinstance(m, TextCosineClassifier))


__all__ = [
    'TextCosineClassifier',
    'TrainClasses',
    'load_class_weights',
    'save_class_weights',
    'iter_classifiers',
    'Vocabulary',
]
