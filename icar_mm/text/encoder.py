"""Text encoders: open_clip text towers (any open_clip model name) and HF
towers (RoBERTa, masked mean pooling, linear projection; ``ICARTextEncoder``
is the iCAR authors' preset), both through open_clip's own modules and tokenizers."""

import os.path as osp
from typing import List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from open_clip.model import _build_text_tower
from open_clip.transformer import TextTransformer, text_global_pool

from ..checkpoints import load_text_encoder
from ..registry import MODELS, build_own

# Our tiny test architectures are open_clip model configs (data), next to the real ones.
open_clip.add_model_config(osp.join(osp.dirname(osp.dirname(__file__)), 'model_configs'))


class _TextEncoderBase(BaseModule):
    """Common behaviour: tokenise, encode, freeze, a cheap weights stamp."""

    embed_dim: int
    tower_kind: str  # which text towers its checkpoints hold (see icar_mm.checkpoints.TEXT_TOWERS)

    def __init__(self, frozen: bool = True, checkpoint: Optional[str] = None, init_cfg=None):
        super().__init__(init_cfg)
        self.frozen = frozen
        self.checkpoint = checkpoint

    def _finish_init(self):
        self._loads = 0
        if self.frozen:
            self.requires_grad_(False)
            self.eval()

    def init_weights(self):
        """Read the pre-trained weights (``checkpoint``). The Runner calls this when training
        starts; a trained model's own checkpoint holds the tower, so inference never reads
        the pre-training file. Without a checkpoint the tower keeps its own init."""
        if self.checkpoint:
            load_text_encoder(self, self.checkpoint)

    def train(self, mode: bool = True):
        return super().train(mode and not self.frozen)

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def weights_stamp(self) -> tuple:
        """Changes whenever the weights change: loading a state dict (counted) or
        an optimiser step on trainable weights (tensors count their in-place
        updates). Frozen weights are not scanned, which keeps this per-forward
        check cheap; after editing frozen weights by hand, call
        :meth:`mark_weights_changed`."""
        return self._loads, sum(p._version for p in self._params() if p.requires_grad)

    def _params(self) -> List[nn.Parameter]:
        # walking the module tree costs ~0.4 ms for a ViT-B tower, too much per forward;
        # .to()/.cuda() keep the same Parameter objects, so the list stays valid
        if getattr(self, '_param_list', None) is None:
            self._param_list = list(self.parameters())
        return self._param_list

    def mark_weights_changed(self) -> None:
        self._loads += 1

    def _load_from_state_dict(self, *args, **kwargs):
        # called by torch's and mmengine's loaders alike, for this module
        self._loads += 1
        super()._load_from_state_dict(*args, **kwargs)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts))

    def forward(self, texts: Union[Sequence[str], torch.Tensor]) -> torch.Tensor:
        """Prompts (or their tokens) -> un-normalised embeddings ``[N, embed_dim]``."""
        tokens = texts if isinstance(texts, torch.Tensor) else self.tokenize(texts)
        return self.encode_tokens(tokens.to(self.device))

    @property
    def device(self) -> torch.device:
        return self._params()[0].device


@MODELS.register_module()
class OpenCLIPTextEncoder(_TextEncoderBase):
    tower_kind = 'open_clip'
    """The text tower of any open_clip architecture, with its bundled tokenizer.

    Args:
        model_name: an open_clip model name (``ViT-B-32``, ``ViT-L-14``, ...)
            or one of ours (``tiny-random-clip``: a 2-layer width-64 tower, random
            init, for tests and the synthetic world).
        checkpoint: optional local file: an open_clip / iCAR checkpoint or our
            own (see :mod:`icar_mm.checkpoints`), read by ``init_weights`` (when
            training starts). Nothing is ever downloaded.
        frozen: freeze the tower (then class embeddings are cached per vocabulary).
    """

    def __init__(
        self, model_name: str = 'ViT-B-32', checkpoint: Optional[str] = None, frozen: bool = True, init_cfg=None
    ):
        super().__init__(frozen, checkpoint, init_cfg)
        cfg = open_clip.get_model_config(model_name)
        if cfg is None:
            raise ValueError(
                f'Unknown open_clip model {model_name!r}; known: '
                f'{", ".join(open_clip.list_models()[:12])}, ... (open_clip.list_models()).'
            )
        text_cfg = cfg['text_cfg']
        if text_cfg.get('hf_model_name'):
            raise ValueError(
                f'{model_name!r} has a HuggingFace text tower; use '
                "dict(type='icar_mm.HFTextEncoder', model_path=<local dir>) instead."
            )
        self.model_name = model_name
        self.embed_dim = cfg['embed_dim']
        self.tower: TextTransformer = _build_text_tower(
            self.embed_dim, text_cfg, quick_gelu=cfg.get('quick_gelu', False)
        )
        self.tokenizer = open_clip.get_tokenizer(model_name)
        # Causal towers pooled at the EOT token ignore trailing padding, so each
        # batch is trimmed to its longest prompt: same result, 2-4x less work.
        self._trim_padding = (
            self.tower.attn_mask is not None
            and self.tower.cls_emb is None
            and not getattr(self.tower, 'use_pad_mask', False)
            and self.tower.pool_type in ('argmax', 'eos')
        )
        self._finish_init()

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        tower = self.tower
        if not self._trim_padding or torch.compiler.is_compiling():  # an export keeps any prompt length
            return tower(tokens)
        length = int((tokens != tower.pad_id).sum(1).max()) if tokens.numel() else 1
        tokens = tokens[:, : max(length, 1)]
        x, attn_mask = tower._embeds(tokens)
        attn_mask = attn_mask[: tokens.shape[1], : tokens.shape[1]]
        x = tower.ln_final(tower.transformer(x, attn_mask=attn_mask))
        pooled = text_global_pool(x, tokens, tower.pool_type, eos_token_id=getattr(tower, 'eos_id', None))
        proj = tower.text_projection
        if proj is None:
            return pooled
        return proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj


HF_WEIGHT_FILES = (
    'model.safetensors',
    'pytorch_model.bin',
    'model.safetensors.index.json',
    'pytorch_model.bin.index.json',
)


@MODELS.register_module()
class HFTextEncoder(_TextEncoderBase):
    """A Hugging Face text tower from *local* files (RoBERTa by default) with
    masked mean pooling and a bias-free linear projection, built from
    open_clip's HF adapter and tokenizer. Needs ``transformers``.

    Args:
        model_path: a local directory with the HF ``config.json`` and tokenizer
            files; weights there are read by ``init_weights`` only when no
            ``checkpoint`` is given (neither: random init).
        embed_dim: output size of the projection (256 in iCAR).
        context_length: tokens per prompt (longer prompts are cut, with one warning).
        lowercase: lower-case prompts before tokenising (as iCAR does).
        checkpoint: optional local file with the tower's weights: an iCAR
            checkpoint (``sentence_model.*``), an open_clip one with an HF tower,
            or our own (see :mod:`icar_mm.checkpoints`), read by ``init_weights``.
    """

    tower_kind = 'hf'

    def __init__(
        self,
        model_path: str,
        embed_dim: int = 256,
        pooler: str = 'mean_pooler',
        context_length: int = 77,
        lowercase: bool = False,
        checkpoint: Optional[str] = None,
        frozen: bool = True,
        init_cfg=None,
    ):
        super().__init__(frozen, checkpoint, init_cfg)
        try:
            import transformers  # noqa: F401
        except ImportError as e:
            raise ImportError(
                'HFTextEncoder needs the `transformers` package (make setup installs it): '
                'pip install -r requirements/runtime.txt'
            ) from e
        if not osp.isdir(model_path):
            raise FileNotFoundError(
                f'{type(self).__name__} needs a local model directory (config.json and tokenizer '
                f'files, e.g. from `save_pretrained`); {model_path!r} does not exist. Nothing is '
                'downloaded at run time.'
            )
        from open_clip.hf_model import HFTextEncoder as OpenCLIPHF
        from open_clip.tokenizer import HFTokenizer

        self.model_path, self.embed_dim, self.context_length = model_path, embed_dim, context_length
        # built from config.json alone; pre-trained weights are read by init_weights
        self.tower = OpenCLIPHF(
            model_path, output_dim=embed_dim, pooler_type=pooler, proj_type='linear', pretrained=False
        )
        self._check_context_length()
        self.tokenizer = HFTokenizer(
            model_path, context_length=context_length, clean='lower' if lowercase else 'whitespace'
        )
        self._truncation_reported = False
        self._finish_init()

    def _check_context_length(self) -> None:
        """Prompts of ``context_length`` tokens must fit the tower's position embeddings (RoBERTa's
        positions start after its padding index, so it holds two tokens fewer than it has positions)."""
        config = self.tower.config
        positions = getattr(config, 'max_position_embeddings', None)
        if positions is None:
            return
        offset = config.pad_token_id + 1 if config.model_type in ('roberta', 'xlm-roberta') else 0
        if self.context_length > positions - offset:
            raise ValueError(
                f'{type(self).__name__}: context_length={self.context_length} tokens, but the {config.model_type} '
                f'tower of {self.model_path} has {positions} positions, room for {positions - offset} tokens; set '
                f'context_length to at most {positions - offset} (iCAR reads 16).'
            )

    def init_weights(self):
        """``checkpoint`` when given; else the Hugging Face weights in ``model_path`` where it has
        them (the tower's projection stays fresh); else the random init."""
        if self.checkpoint or not any(osp.isfile(osp.join(self.model_path, f)) for f in HF_WEIGHT_FILES):
            return super().init_weights()
        from transformers import AutoModel

        transformer = self.tower.transformer
        if getattr(self.tower.config, 'is_encoder_decoder', False):  # open_clip keeps the encoder (T5)
            pretrained = AutoModel.from_pretrained(self.model_path).encoder
        else:
            with_pooler = getattr(transformer, 'pooler', None) is not None
            pretrained = AutoModel.from_pretrained(self.model_path, add_pooling_layer=with_pooler)
        transformer.load_state_dict(pretrained.state_dict())  # strict: the same config built both
        self.mark_weights_changed()

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        if not self._truncation_reported:
            self._report_truncation(texts)
        return self.tokenizer(texts)

    def _report_truncation(self, texts: List[str]) -> None:
        """Say once how many prompts the context length cuts (enriched
        descriptions are long; iCAR's tower reads 16 tokens)."""
        cleaned = [self.tokenizer.clean_fn(t) for t in texts]
        lengths = [len(ids) for ids in self.tokenizer.tokenizer(cleaned, truncation=False)['input_ids']]
        cut = [i for i, n in enumerate(lengths) if n > self.context_length]
        if cut:
            longest = max(cut, key=lengths.__getitem__)
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: {len(cut)} of {len(texts)} prompts are longer than its '
                f'{self.context_length}-token context and are cut; the longest has {lengths[longest]} '
                f'tokens: {texts[longest]!r}. (Said once.)'
            )
            self._truncation_reported = True

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        tower = self.tower
        mask = (tokens != tower.config.pad_token_id).long()
        pooled = tower.pooler(tower.transformer(input_ids=tokens, attention_mask=mask), mask)
        # the projection in float32, also under autocast, as the iCAR towers apply it
        with torch.autocast(pooled.device.type, enabled=False):
            return F.linear(pooled.float(), tower.proj.weight.float())


@MODELS.register_module()
class ICARTextEncoder(HFTextEncoder):
    """The iCAR authors' text tower as their downstream code runs it: RoBERTa
    (``roberta-base`` config and tokenizer files in ``model_path``), prompts
    lower-cased and cut at 16 tokens, masked mean pooling, bias-free
    ``Linear(768, 256)`` in float32. Weights come from an iCAR checkpoint
    (``sentence_model.backbone.*``, ``sentence_model.projector.weight``)."""

    def __init__(
        self,
        model_path: str = 'checkpoints/roberta-base',
        embed_dim: int = 256,
        context_length: int = 16,
        lowercase: bool = True,
        **kwargs,
    ):
        super().__init__(model_path, embed_dim=embed_dim, context_length=context_length, lowercase=lowercase, **kwargs)


def build_text_encoder(cfg) -> _TextEncoderBase:
    return build_own(MODELS, cfg)


__all__: List[str] = ['OpenCLIPTextEncoder', 'HFTextEncoder', 'ICARTextEncoder', 'build_text_encoder']
