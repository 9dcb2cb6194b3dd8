"""Text encoders: open_clip text towers (any open_clip model name) and an
optional HF tower (RoBERTa, masked mean pooling, linear projection), both
through open_clip's own modules and tokenizers."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from open_clip.model import _build_text_tower
from open_clip.transformer import TextTransformer, text_global_pool

from ..registry import MODELS

# Our tiny test architectures are open_clip model configs (data), next to the real ones.
open_clip.add_model_config(osp.join(osp.dirname(osp.dirname(__file__)), 'model_configs'))


class _TextEncoderBase(BaseModule):
    """Common behaviour: tokenise, encode, freeze, a cheap weights stamp."""

    embed_dim: int

    def __init__(self, frozen: bool = True, checkpoint: Optional[str] = None, init_cfg=None):
        super().__init__(init_cfg)
        self.frozen = frozen
        self.checkpoint = checkpoint

    def _finish_init(self):
        self._loads = 0
        if self.checkpoint:
            from ..checkpoints import load_text_encoder
            load_text_encoder(self, self.checkpoint)
        if self.frozen:
            self.requires_grad_(False)
            self.eval()

    def init_weights(self):
        # Weights come from the tower's own init or from `checkpoint`; never re-initialise.
        pass

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
    """The text tower of any open_clip architecture, with its bundled tokenizer.

    Args:
        model_name: an open_clip model name (``ViT-B-32``, ``ViT-L-14``, ...)
            or one of ours (``iCAR-Tiny``, a 2-layer width-64 tower for tests).
        checkpoint: optional local file: an open_clip / iCAR checkpoint or our
            own (see :mod:`icar_mm.checkpoints`). Nothing is ever downloaded.
        frozen: freeze the tower (then class embeddings are cached per vocabulary).
    """

    def __init__(self, model_name: str = 'ViT-B-32', checkpoint: Optional[str] = None,
                 frozen: bool = True, init_cfg=None):
        super().__init__(frozen, checkpoint, init_cfg)
        cfg = open_clip.get_model_config(model_name)
        if cfg is None:
            raise ValueError(f'Unknown open_clip model {model_name!r}; known: '
                             f'{", ".join(open_clip.list_models()[:12])}, ... (open_clip.list_models()).')
        text_cfg = cfg['text_cfg']
        if text_cfg.get('hf_model_name'):
            raise ValueError(f'{model_name!r} has a HuggingFace text tower; use '
                             "dict(type='icar_mm.HFTextEncoder', model_path=<local dir>) instead.")
        self.model_name = model_name
        self.embed_dim = cfg['embed_dim']
        self.tower: TextTransformer = _build_text_tower(self.embed_dim, text_cfg,
                                                        quick_gelu=cfg.get('quick_gelu', False))
        self.tokenizer = open_clip.get_tokenizer(model_name)
        # Causal towers pooled at the EOT token ignore trailing padding, so each
        # batch is trimmed to its longest prompt: same result, 2-4x less work.
        self._trim_padding = (self.tower.attn_mask is not None and self.tower.cls_emb is None
                              and not getattr(self.tower, 'use_pad_mask', False)
                              and self.tower.pool_type in ('argmax', 'eos'))
        self._finish_init()

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        tower = self.tower
        if not self._trim_padding:
            return tower(tokens)
        length = int((tokens != tower.pad_id).sum(1).max()) if tokens.numel() else 1
        tokens = tokens[:, :max(length, 1)]
        x, attn_mask = tower._embeds(tokens)
        attn_mask = attn_mask[:tokens.shape[1], :tokens.shape[1]]
        x = tower.ln_final(tower.transformer(x, attn_mask=attn_mask))
        pooled = text_global_pool(x, tokens, tower.pool_type, eos_token_id=getattr(tower, 'eos_id', None))
        proj = tower.text_projection
        if proj is None:
            return pooled
        return proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj


@MODELS.register_module()
class HFTextEncoder(_TextEncoderBase):
    """A HuggingFace text tower from *local* files (RoBERTa by default) with
    masked mean pooling and a bias-free linear projection, as the iCAR
    authors' downstream code used. Needs ``pip install transformers``.

    Args:
        model_path: a local directory holding the HF model and tokenizer files.
        embed_dim: output size of the projection (256 in the iCAR code).
    """

    def __init__(self, model_path: str, embed_dim: int = 256, pooler: str = 'mean_pooler',
                 context_length: int = 77, checkpoint: Optional[str] = None,
                 frozen: bool = True, init_cfg=None):
        super().__init__(frozen, checkpoint, init_cfg)
        try:
            import transformers  # noqa: F401
        except ImportError as e:
            raise ImportError('HFTextEncoder needs the `transformers` package: '
                              'pip install -r requirements/optional.txt') from e
        if not osp.isdir(model_path):
            raise FileNotFoundError(
                f'HFTextEncoder needs a local model directory (config.json, weights and tokenizer '
                f'files, e.g. from `save_pretrained`); {model_path!r} does not exist. Nothing is '
                'downloaded at run time.')
        from open_clip.hf_model import HFTextEncoder as OpenCLIPHF
        from open_clip.tokenizer import HFTokenizer
        self.embed_dim = embed_dim
        self.tower = OpenCLIPHF(model_path, output_dim=embed_dim, pooler_type=pooler,
                                proj_type='linear', pretrained=True)
        self.tokenizer = HFTokenizer(model_path, context_length=context_length)
        self._finish_init()

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.tower(tokens)


def build_text_encoder(cfg) -> _TextEncoderBase:
    from ..registry import build_own
    return build_own(MODELS, cfg)


__all__: List[str] = ['OpenCLIPTextEncoder', 'HFTextEncoder', 'build_text_encoder']
