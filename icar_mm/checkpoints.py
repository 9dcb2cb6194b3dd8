"""The one place that reads, recognises and converts checkpoints.

Layouts we recognise (by sentinel keys, open_clip style):

* ``icar``           the iCAR authors' vision-language checkpoints, ``{'model': ...}``
                     (often with a pickled ``args`` Namespace beside it):
                     ``sentence_model.backbone.*`` (HF RoBERTa) + ``sentence_model.projector.weight``,
                     or an open_clip text tower under ``sentence_model.*`` (our pre-training);
                     ``visual_model.backbone.*`` (Swin, Microsoft naming with three renames:
                     ``rel_pos_embed_table``, ``relative_coords``, ``channel_reduction``);
                     ``visual_model.projector.weight``. Either half alone loads where it applies;
* ``open_clip``      OpenCLIP ``CLIP`` (``token_embedding``, ``transformer.*``,
                     ``visual.*``) and ``CustomTextCLIP`` (``text.*``);
* ``microsoft_swin`` the official Swin releases (``layers.N.blocks...``, ``patch_embed.proj``);
* ``mm_swin``        OpenMMLab Swin state dicts (``stages.N.blocks...``, ``patch_embed.projection``);
* ``icar_mm``        our own modules and models (``tower.*``, ``*.text_encoder.tower.*``,
                     ``backbone.*``, ``image_encoder.*``).

Everything is read with ``torch.load(weights_only=True)`` (or safetensors); loading is strict,
relaxed only for keys a converter names, and missing / unexpected keys are
reported by name. A file in no known layout is refused.
"""

import argparse
import os
import os.path as osp
import pickle
import re
from typing import Dict, Iterable, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import is_model_wrapper
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors

StateDict = Dict[str, torch.Tensor]
LAYOUTS = ('icar', 'open_clip', 'microsoft_swin', 'mm_swin', 'icar_mm')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


def mmengine_safe_globals() -> list:
    """Plain-data classes that mmengine writes into its checkpoints' meta."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64', 'int32', 'uint8', 'bool')]
    # getattr: HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'mean');
    # the unpickler still calls only allow-listed callables.
    return [HistoryBuffer, getattr, np.dtype, np.ndarray, multiarray._reconstruct, multiarray.scalar, *dtypes]


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Read a checkpoint file safely (``weights_only``, or safetensors), with clear errors.
    mmengine's own loading (``load_from``, ``--resume``, inferencers) comes here too."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Checkpoint {path!r} does not exist. Pass a local file; nothing is downloaded at run time.'
        )
    size = os.path.getsize(path)
    if path.endswith('.safetensors'):
        try:
            return load_safetensors(path, device=str(map_location))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(
                f'Cannot read safetensors file {path!r} ({size} bytes): it is truncated '
                f'or corrupt ({str(e).splitlines()[0]}). Copy or download it again.'
            ) from e
    try:
        # argparse.Namespace: iCAR files keep their training arguments beside the weights
        with torch.serialization.safe_globals(mmengine_safe_globals() + [argparse.Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'Refused to load {path!r}: it contains pickled objects that could execute code when '
            f'loaded, and only tensors and plain data are accepted ({str(e).splitlines()[0]}). '
            'If you trust the file, re-save just its weights: '
            "torch.save(torch.load(path, weights_only=False)['model'], 'weights.pth') "
            "(iCAR files keep them under 'model', mmengine's under 'state_dict')."
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(
            f'Cannot read checkpoint {path!r} ({size} bytes): the file is truncated or corrupt '
            f'({str(e).splitlines()[0]}). Copy or download it again and check its size.'
        ) from e


def state_dict_of(checkpoint: dict) -> StateDict:
    """The weights inside a checkpoint dict (``state_dict``/``model``/``module`` wrappers)."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    sd = {k[7:] if k.startswith('module.') else k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError(
            'The checkpoint holds no tensors: expected a state dict, or a dict with "state_dict" / "model".'
        )
    return sd


def detect_layout(sd: StateDict) -> str:
    keys = list(sd)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('sentence_model.') or has('visual_model.'):
        return 'icar'
    if (
        'token_embedding.weight' in sd
        or has('text.token_embedding')
        or has('visual.conv1')
        or has('visual.trunk')
        or 'logit_scale' in sd
    ):
        return 'open_clip'
    if 'patch_embed.proj.weight' in sd and has('layers.0.blocks.0.attn'):
        return 'microsoft_swin'
    if 'patch_embed.projection.weight' in sd and has('stages.0.blocks.0.attn'):
        return 'mm_swin'
    if (
        has('tower.')
        or any('.text_encoder.tower.' in k or k.startswith('text_encoder.tower.') for k in keys)
        or has('backbone.')
        or has('image_encoder.')
    ):
        return 'icar_mm'
    raise CheckpointError(
        f'Unknown checkpoint layout (first keys: {keys[:5]}). Known layouts: {", ".join(LAYOUTS)} '
        '(see icar_mm/checkpoints.py for their sentinel keys). Convert the file to one of them.'
    )


# --- the iCAR authors' names -----------------------------------------------------
# Text: their RoBERTa and projector; open_clip's HF adapter (our HFTextEncoder's
# ``tower``) calls them ``transformer`` and ``proj``.
_ICAR_HF_TEXT = {'backbone': 'transformer', 'projector': 'proj'}
# Buffers HF RoBERTa rebuilds itself (older transformers saved position_ids).
_HF_BUFFERS = ('embeddings.position_ids', 'embeddings.token_type_ids')
# Image: their Swin is Microsoft's but for three names.
_ICAR_SWIN = {
    'rel_pos_embed_table': 'relative_position_bias_table',
    'relative_coords': 'relative_position_index',
    'channel_reduction': 'reduction',
}
ICAR_PROJECTOR = 'visual_model.projector.weight'


def _rename(key: str, names: Dict[str, str], first_only: bool = False) -> str:
    """Rename whole dotted components of ``key`` (only its first with ``first_only``)."""
    parts = key.split('.')
    return '.'.join(names.get(p, p) if (i == 0 or not first_only) else p for i, p in enumerate(parts))


def _present(sd: StateDict, patterns: Iterable[str]) -> Tuple[str, ...]:
    """The patterns (see ``_named``) that match some key of ``sd``: what a converter leaves out."""
    return tuple(p for p in patterns if any(_named(k, (p,)) for k in sd))


# --- text side -----------------------------------------------------------------
_OPEN_CLIP_TEXT = ('token_embedding.', 'positional_embedding', 'transformer.', 'ln_final.', 'text_projection')
# Parts of a text-side checkpoint that belong to the image side, named, not silently dropped.
_TEXT_IGNORED = ('visual.', 'visual_model.', 'logit_scale', 'logit_bias', 'attn_mask')
TEXT_TOWERS = {'hf': 'a Hugging Face (RoBERTa-style) text tower', 'open_clip': 'an open_clip text transformer'}
_TEXT_ENCODER_FOR = {
    'hf': 'icar_mm.ICARTextEncoder (or HFTextEncoder) with model_path=<local RoBERTa dir>',
    'open_clip': 'icar_mm.OpenCLIPTextEncoder with the model_name it was trained as',
}


def text_tower_kind(converted: StateDict) -> str:
    """``'hf'`` or ``'open_clip'``: which tower a converted text state dict holds."""
    return 'hf' if any(k.startswith('tower.transformer.embeddings.') for k in converted) else 'open_clip'


def convert_text(sd: StateDict, layout: str, source: str = 'the checkpoint') -> Tuple[StateDict, Tuple[str, ...]]:
    """Map a checkpoint's text tower to our text encoder's keys (``tower.*``).
    Returns the converted dict and what was deliberately left out."""
    if layout == 'open_clip':
        if any(k.startswith('text.') for k in sd):
            out = {'tower.' + k[5:]: v for k, v in sd.items() if k.startswith('text.')}
        else:
            out = {'tower.' + k: v for k, v in sd.items() if k.startswith(_OPEN_CLIP_TEXT)}
        return out, _present(sd, _TEXT_IGNORED)
    if layout == 'icar':
        text = {k[len('sentence_model.') :]: v for k, v in sd.items() if k.startswith('sentence_model.')}
        if not text:
            raise CheckpointError(
                f'{source} holds no text tower (sentence_model.*): it is the image half of an iCAR '
                'checkpoint (visual_model.*). Give the text encoder the file with the text tower.'
            )
        if any(k.startswith('backbone.') for k in text):  # the authors' RoBERTa + projector
            text = {_rename(k, _ICAR_HF_TEXT, first_only=True): v for k, v in text.items()}
        return {'tower.' + k: v for k, v in text.items()}, _present(sd, _TEXT_IGNORED + _HF_BUFFERS)
    if layout == 'icar_mm':
        out = {}
        for k, v in sd.items():
            i = k.find('text_encoder.tower.')
            if k.startswith('tower.'):
                out[k] = v
            elif i >= 0 and (i == 0 or k[i - 1] == '.'):
                out[k[i + len('text_encoder.') :]] = v
        return out, ()
    raise CheckpointError(
        f'{source} ({layout} layout) holds no text encoder; expected an '
        'open_clip, iCAR (sentence_model.*) or icar_mm checkpoint.'
    )


def _named(key: str, patterns: Iterable[str]) -> bool:
    """Whether ``key`` starts with, or has a dotted component starting with, a pattern."""
    return any(key.startswith(p) or f'.{p}' in key for p in patterns)


def _raise_key_report(source: str, what: str, total: int, matched: int, missing, unexpected, shape=()) -> None:
    """Name every key that stops a strict load, then raise."""
    lines = [f'Cannot load {what} from {source}: {matched} of {total} tensors match.']
    for title, items in (
        ('missing in checkpoint', missing),
        ('unexpected in checkpoint', unexpected),
        ('shape mismatch', shape),
    ):
        if items:
            more = f' ... and {len(items) - 8} more' if len(items) > 8 else ''
            lines.append(f'  {title} ({len(items)}): {", ".join(items[:8])}{more}')
    lines.append('Check that the model config (architecture, sizes) matches the checkpoint.')
    raise CheckpointError('\n'.join(lines))


def _compare_keys(own: StateDict, sd: StateDict):
    """-> (missing, unexpected, shape mismatches, matched keys) of checkpoint
    ``sd`` against a model's state dict ``own``; extra state (vocabularies) aside."""
    own, sd = ({k: v for k, v in d.items() if not k.endswith('_extra_state')} for d in (own, sd))
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shape = [
        f'{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}'
        for k in sd
        if k in own and sd[k].shape != own[k].shape
    ]
    matched = [k for k in sd if k in own and sd[k].shape == own[k].shape]
    return missing, unexpected, shape, matched


def load_strict(
    module: nn.Module,
    sd: StateDict,
    source: str,
    what: str,
    allowed_missing: Iterable[str] = (),
    ignored: Iterable[str] = (),
    left_out: Iterable[str] = (),
) -> int:
    """Strict ``load_state_dict`` with named exceptions and a clear report;
    returns the number of tensors loaded.

    ``allowed_missing``/``ignored`` are key patterns (see ``_named``) a converter explicitly
    does not expect to match; anything else missing or unexpected is an error.
    ``left_out`` names what the converter dropped on purpose (for the log).
    """
    own = module.state_dict()
    left_out = tuple(left_out)
    missing, unexpected, shape, matched = _compare_keys(own, sd)
    missing = [k for k in missing if not _named(k, allowed_missing)]
    unexpected = [k for k in unexpected if not _named(k, ignored)]
    if not matched or missing or unexpected or shape:
        _raise_key_report(source, what, len(own), len(matched), missing, unexpected, shape)
    module.load_state_dict({k: sd[k] for k in matched}, strict=False)
    MMLogger.get_current_instance().info(
        f'Loaded {what}: {len(matched)} tensors from {source}'
        + (f' (left out as intended: {", ".join(p.rstrip(".") for p in left_out)})' if left_out else '')
    )
    return len(matched)


def load_text_encoder(encoder: nn.Module, path: str) -> int:
    sd = state_dict_of(read_checkpoint(path))
    layout = detect_layout(sd)
    converted, left_out = convert_text(sd, layout, path)
    found = text_tower_kind(converted)
    wanted = getattr(encoder, 'tower_kind', found)
    if found != wanted:
        raise CheckpointError(
            f'{path} ({layout} layout) holds {TEXT_TOWERS[found]}, but the config builds '
            f'{type(encoder).__name__} ({TEXT_TOWERS[wanted]}). Use {_TEXT_ENCODER_FOR[found]}.'
        )
    return load_strict(
        encoder,
        converted,
        f'{path} ({layout} layout)',
        'text encoder',
        allowed_missing=_HF_BUFFERS,
        ignored=_HF_BUFFERS,
        left_out=left_out,
    )


def load_projector(linear: nn.Linear, path: str) -> int:
    """The iCAR image projector (``visual_model.projector.weight``, a bias-free
    ``Linear(C_last, embed_dim)``) into ``linear``, strictly."""
    sd = state_dict_of(read_checkpoint(path))
    key = next((k for k in (ICAR_PROJECTOR, 'projection.weight', 'image_encoder.projection.weight') if k in sd), None)
    if key is None:
        half = (
            ' It is the text half of an iCAR checkpoint (sentence_model.* only).'
            if any(k.startswith('sentence_model.') for k in sd)
            else ''
        )
        raise CheckpointError(
            f'{path} holds no image projector ({ICAR_PROJECTOR}).{half} Give '
            'projector_checkpoint the whole iCAR file, or None to start the projection fresh.'
        )
    weight = sd[key]
    if tuple(weight.shape) != tuple(linear.weight.shape):
        raise CheckpointError(
            f'Cannot load the image projector from {path}: {key} is {tuple(weight.shape)} '
            f"([embed_dim, visual channels]) but the model's projection is {tuple(linear.weight.shape)}. "
            "Check in_channels (the backbone's last-stage width) and the text embedding size."
        )
    with torch.no_grad():
        linear.weight.copy_(weight)
    MMLogger.get_current_instance().info(f'Loaded image projector {key} {tuple(weight.shape)} from {path}')
    return 1


# --- image side: open_clip image towers ------------------------------------------
_OPEN_CLIP_VISUAL = {'open_clip': 'visual.', 'icar_mm': 'image_encoder.visual.'}


def convert_open_clip_visual(
    sd: StateDict, layout: str, source: str = 'the checkpoint'
) -> Tuple[StateDict, Tuple[str, ...]]:
    """An open_clip image tower's keys (``visual.*`` of OpenCLIP files, or
    ``image_encoder.visual.*`` of our multi-label models), unprefixed.
    Returns the converted dict and what was deliberately left out."""
    prefix = _OPEN_CLIP_VISUAL.get(layout)
    part = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)} if prefix else {}
    if not part:
        hint = (
            ' It holds an iCAR Swin image tower: use icar_mm.PooledImageEncoder with '
            "backbone=dict(type='icar_mm.ICARSwin', checkpoint=...)."
            if layout == 'icar'
            else ''
        )
        raise CheckpointError(
            f'{source} ({layout} layout) holds no open_clip image tower '
            f'({" or ".join(p + "*" for p in _OPEN_CLIP_VISUAL.values())}).{hint}'
        )
    return part, tuple(sorted({k.split('.')[0] for k in sd if not k.startswith(prefix)}))


def load_open_clip_visual(visual: nn.Module, path: str) -> int:
    sd = state_dict_of(read_checkpoint(path))
    layout = detect_layout(sd)
    part, left_out = convert_open_clip_visual(sd, layout, path)
    return load_strict(visual, part, f'{path} ({layout} layout)', 'open_clip image tower', left_out=left_out)


# --- image side: 2D Swin -------------------------------------------------------
# Buffers a Microsoft / iCAR Swin file stores that mmdet's Swin rebuilds itself,
# and its classification head: named, never silently matched.
_SWIN_IGNORED = ('head.', 'attn_mask', 'relative_position_index', 'relative_coords_table')
_SWIN_NEW = ('norm0.', 'norm1.', 'norm2.')  # per-stage output norms mm adds for FPN / UPerNet


def _swin_part(sd: StateDict, layout: str, source: str = 'the checkpoint') -> Tuple[StateDict, str, Tuple[str, ...]]:
    """The 2D Swin inside a checkpoint: iCAR's ``visual_model.backbone.*`` (its
    three names made Microsoft's) or our saved models' ``backbone.*`` unwrapped,
    with its own layout and what is left out on purpose."""
    if layout == 'icar':
        part = {
            _rename(k[len('visual_model.backbone.') :], _ICAR_SWIN): v
            for k, v in sd.items()
            if k.startswith('visual_model.backbone.')
        }
        if not part:
            raise CheckpointError(
                f'{source} holds no image tower (visual_model.backbone.*): it is the text half of an '
                'iCAR checkpoint (sentence_model.*). Give the backbone the file with the image '
                'tower, or checkpoint=None to start it from random init.'
            )
        return part, detect_layout(part), _present(sd, ('sentence_model.', 'visual_model.projector.', 'logit_scale'))
    if layout == 'icar_mm':
        part = {k[len('backbone.') :]: v for k, v in sd.items() if k.startswith('backbone.')}
        if not part:
            raise CheckpointError(f'{source} holds no backbone (backbone.*) to load a Swin from.')
        return (
            part,
            detect_layout(part),
            _present(
                sd,
                (
                    'neck.',
                    'rpn_head.',
                    'roi_head.',
                    'decode_head.',
                    'auxiliary_head.',
                    'cls_head.',
                    'data_preprocessor.',
                ),
            ),
        )
    return sd, layout, ()


def convert_swin(
    sd: StateDict, layout: str, num_stages: int = 4, source: str = 'the checkpoint'
) -> Tuple[StateDict, Tuple[str, ...]]:
    """Map a checkpoint's 2D Swin image encoder to mmdet's ``SwinTransformer``
    keys, reusing mmdet's own ``swin_converter`` for the Microsoft layout.
    Returns the converted dict and the prefixes left out on purpose."""
    sd, layout, left_out = _swin_part(sd, layout, source)
    if layout == 'microsoft_swin':
        # lazy: this module loads with `import icar_mm`, which must not import mmdet
        from mmdet.models.backbones.swin import swin_converter

        # The Microsoft release's final norm is the norm of the last stage's output.
        renamed = {(f'norm{num_stages - 1}.' + k[5:] if k.startswith('norm.') else k): v for k, v in sd.items()}
        left_out += _present(sd, _SWIN_IGNORED)
        return {k[len('backbone.') :]: v for k, v in swin_converter(renamed).items()}, left_out
    if layout == 'mm_swin':
        return dict(sd), left_out + _present(sd, _SWIN_IGNORED)
    raise CheckpointError(
        f'{source} ({layout} layout) holds no 2D Swin image encoder; expected an iCAR '
        '(visual_model.backbone.*), Microsoft Swin or OpenMMLab Swin checkpoint.'
    )


def adapt_swin_tensors(sd: StateDict, model_sd: StateDict) -> StateDict:
    """Resolution changes, as mmdet's Swin does when it loads a checkpoint:
    absolute position embeddings reshaped to NCHW, relative position bias
    tables resized bicubically to the model's window size."""
    sd = dict(sd)
    ape = sd.get('absolute_pos_embed')
    if ape is not None and 'absolute_pos_embed' in model_sd and ape.dim() == 3:
        n, c, h, w = model_sd['absolute_pos_embed'].shape
        if ape.shape == (n, h * w, c):
            sd['absolute_pos_embed'] = ape.view(n, h, w, c).permute(0, 3, 1, 2).contiguous()
    for key, table in list(sd.items()):
        if 'relative_position_bias_table' in key and key in model_sd:
            (l1, heads1), (l2, heads2) = table.shape, model_sd[key].shape
            if heads1 == heads2 and l1 != l2:
                s1, s2 = int(l1**0.5), int(l2**0.5)
                resized = F.interpolate(table.permute(1, 0).reshape(1, heads1, s1, s1), size=(s2, s2), mode='bicubic')
                sd[key] = resized.view(heads2, l2).permute(1, 0).contiguous()
    return sd


def load_swin_backbone(backbone: nn.Module, path: str, num_stages: int) -> int:
    sd = state_dict_of(read_checkpoint(path))
    layout = detect_layout(sd)
    converted, left_out = convert_swin(sd, layout, num_stages, path)
    converted = adapt_swin_tensors(converted, backbone.state_dict())
    # Stage output norms a classification Swin does not have (it normalises only the
    # last stage) start from their init; buffers mm rebuilds need not be in the file.
    new = tuple(p for p in _SWIN_NEW if not any(k.startswith(p) for k in converted))
    loaded = load_strict(
        backbone,
        converted,
        f'{path} ({layout} layout)',
        'Swin backbone',
        allowed_missing=new + ('relative_position_index',),
        ignored=_SWIN_IGNORED,
        left_out=left_out,
    )
    if new:
        MMLogger.get_current_instance().info(
            f'Swin stage output norms {", ".join(p.rstrip(".") for p in new)} are not in {path}: '
            'initialised fresh (expected for classification checkpoints).'
        )
    return loaded


# --- image side: 2D Swin inflated to mmaction's video Swin -----------------------
# mmaction2's ``SwinTransformer3D.inflate_weights`` reads Microsoft-layout 2D Swin
# weights; these helpers bring every 2D layout we know into that layout.
_SWIN_MS_DROPPED = ('relative_position_index', 'attn_mask')  # mmaction rebuilds them


def swin_mm_to_microsoft(sd: StateDict, num_stages: int = 4) -> StateDict:
    """Inverse of mmdet's ``swin_converter``: OpenMMLab (mmdet / mmseg) Swin keys
    back to the Microsoft layout. The last stage's output norm becomes the
    Microsoft final ``norm``; other stage output norms have no Microsoft
    counterpart and are left out."""

    def reduction_order(x):  # undoes mmdet's correct_unfold_reduction_order
        out_channels, in_channels = x.shape
        x = x.reshape(out_channels, in_channels // 4, 4).transpose(1, 2)
        return x[:, [0, 2, 1, 3], :].reshape(out_channels, in_channels)

    def norm_order(x):  # undoes mmdet's correct_unfold_norm_order
        x = x.reshape(x.shape[0] // 4, 4).transpose(0, 1)
        return x[[0, 2, 1, 3], :].reshape(-1)

    last_norm = f'norm{num_stages - 1}.'
    out = {}
    for k, v in sd.items():
        if k.startswith(last_norm):
            out['norm.' + k[len(last_norm) :]] = v
            continue
        if k.split('.')[0] in ('norm0', 'norm1', 'norm2', 'norm3'):
            continue
        new = k
        if k.startswith('stages.'):
            new = 'layers.' + k[len('stages.') :]
            if '.downsample.reduction.' in new:
                v = reduction_order(v)
            elif '.downsample.norm.' in new:
                v = norm_order(v)
            new = (
                new.replace('.attn.w_msa.', '.attn.')
                .replace('.ffn.layers.0.0.', '.mlp.fc1.')
                .replace('.ffn.layers.1.', '.mlp.fc2.')
            )
        elif k.startswith('patch_embed.projection.'):
            new = 'patch_embed.proj.' + k[len('patch_embed.projection.') :]
        out[new] = v
    return out


def to_icar_layout(
    backbone: StateDict, projector: torch.Tensor, text_encoder: StateDict, num_stages: int = 4
) -> StateDict:
    """Our modules' weights in the iCAR authors' layout, the inverse of what the
    loaders read: an mm Swin's state dict -> ``visual_model.backbone.*``
    (Microsoft naming, the authors' three names), the projection weight ->
    ``visual_model.projector.weight``, a text encoder's ``tower.*`` ->
    ``sentence_model.*`` (an HF tower's ``transformer`` / ``proj`` as the
    authors' ``backbone`` / ``projector``)."""
    to_icar_swin = {v: k for k, v in _ICAR_SWIN.items()}
    to_icar_text = {v: k for k, v in _ICAR_HF_TEXT.items()}
    hf = text_tower_kind(text_encoder) == 'hf'
    sd = {
        'visual_model.backbone.' + _rename(k, to_icar_swin): v
        for k, v in swin_mm_to_microsoft(backbone, num_stages).items()
    }
    sd[ICAR_PROJECTOR] = projector
    for k, v in text_encoder.items():
        if k.startswith('tower.'):
            k = k[len('tower.') :]
            sd['sentence_model.' + (_rename(k, to_icar_text, first_only=True) if hf else k)] = v
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def convert_swin_microsoft(
    sd: StateDict, layout: str, num_stages: int = 4, source: str = 'the checkpoint'
) -> Tuple[StateDict, Tuple[str, ...]]:
    """Map a checkpoint's Swin image encoder to the Microsoft layout (the one
    mmaction's ``inflate_weights`` reads): iCAR (``visual_model.backbone.*``),
    Microsoft, OpenMMLab Swin and our own detector / segmentor checkpoints
    (``backbone.*``). Returns the converted dict and the prefixes left out on purpose."""
    sd, layout, left_out = _swin_part(sd, layout, source)
    if layout == 'microsoft_swin':
        return dict(sd), left_out
    if layout == 'mm_swin':
        return swin_mm_to_microsoft(sd, num_stages), left_out + ('norm0.', 'norm1.', 'norm2.')
    raise CheckpointError(
        f'{source} ({layout} layout) holds no Swin image encoder; expected an iCAR '
        '(visual_model.backbone.*), Microsoft Swin, OpenMMLab Swin or icar_mm '
        '(backbone.*) checkpoint.'
    )


def load_swin3d_backbone(backbone: nn.Module, path: str, inflate) -> int:
    """Load a video Swin (mmaction's ``SwinTransformer3D``) from ``path``.

    A 2D checkpoint (any layout :func:`convert_swin_microsoft` reads) is
    converted to the Microsoft layout, its keys checked against the 3D model
    strictly (after the renames mmaction's inflation does), and handed to
    ``inflate(state_dict)``, which runs mmaction's own inflation. A checkpoint
    that is already 3D (a trained video model) is loaded strictly as is.
    """
    sd = state_dict_of(read_checkpoint(path))
    layout = detect_layout(sd)
    ms, left_out = convert_swin_microsoft(sd, layout, len(backbone.layers), path)
    source = f'{path} ({layout} layout)'
    own = backbone.state_dict()
    ignored = ('head.',) + _SWIN_MS_DROPPED
    left_out += _present(ms, ignored)
    if ms.get('patch_embed.proj.weight') is not None and ms['patch_embed.proj.weight'].dim() == 5:
        return load_strict(
            backbone,
            ms,
            source,
            'video Swin backbone',
            allowed_missing=('relative_position_index',),
            ignored=ignored,
            left_out=left_out,
        )
    has_final = 'norm3.weight' in own
    renamed = {('norm3.' + k[5:] if has_final and k.startswith('norm.') else k): v for k, v in ms.items()}
    fresh = tuple(f'norm{i}.' for i in range(4) if f'norm{i}.weight' in own and f'norm{i}.weight' not in renamed)
    if not has_final:
        ignored += ('norm.',)  # the model outputs no last stage, so it has no final norm
    missing = [k for k in own if k not in renamed and not _named(k, fresh + ('relative_position_index',))]
    unexpected = [k for k in renamed if k not in own and not _named(k, ignored)]
    matched = sum(k in own for k in renamed)
    if not matched or missing or unexpected:
        _raise_key_report(source, 'video Swin backbone (inflated from 2D)', len(own), matched, missing, unexpected)
    ms = {k: v for k, v in ms.items() if not _named(k, ('head.',))}
    if has_final and 'norm.weight' not in ms:  # inflation reads it: pass the fresh init through
        ms['norm.weight'], ms['norm.bias'] = own['norm3.weight'], own['norm3.bias']
    try:
        inflate(ms)
    except RuntimeError as e:  # size mismatches reported by load_state_dict
        raise CheckpointError(
            f'Cannot inflate {source} into the video Swin: {str(e).strip()}\n'
            'Check that the model config (embed_dims, depths, num_heads, '
            'patch_size) matches the checkpoint.'
        ) from e
    MMLogger.get_current_instance().info(
        f'Inflated video Swin backbone from {source}: {matched} tensors'
        + (f' (left out as intended: {", ".join(p.rstrip(".") for p in left_out)})' if left_out else '')
        + (f'; initialised fresh: {", ".join(p.rstrip(".") for p in fresh)}' if fresh else '')
    )
    return matched


# --- what a file holds (tools/inspect_checkpoint.py) -------------------------------
SWIN_SIZES = {
    (96, (2, 2, 6, 2)): 'Swin-T',
    (96, (2, 2, 18, 2)): 'Swin-S',
    (128, (2, 2, 18, 2)): 'Swin-B',
    (192, (2, 2, 18, 2)): 'Swin-L',
}


def _blocks(sd: StateDict, pattern: str) -> int:
    """How many distinct indices ``pattern`` (a regex with one group) takes in the keys."""
    return len({m.group(1) for m in (re.match(pattern, k) for k in sd) if m})


def describe_swin(ms: StateDict) -> dict:
    """Architecture of a Microsoft-layout Swin state dict."""
    proj = ms['patch_embed.proj.weight']
    stages = _blocks(ms, r'layers\.(\d+)\.')
    depths = tuple(_blocks(ms, rf'layers\.{i}\.blocks\.(\d+)\.') for i in range(stages))
    tables = [ms.get(f'layers.{i}.blocks.0.attn.relative_position_bias_table') for i in range(stages)]
    embed = proj.shape[0]
    out = dict(
        name=SWIN_SIZES.get((embed, depths), 'Swin'),
        video=proj.dim() == 5,
        embed_dims=embed,
        depths=depths,
        num_heads=tuple(t.shape[1] for t in tables if t is not None),
        patch_size=tuple(proj.shape[2:]),
        last_stage_channels=embed * 2 ** (stages - 1),
    )
    if tables and tables[0] is not None and proj.dim() == 4:
        out['window_size'] = (int(round(tables[0].shape[0] ** 0.5)) + 1) // 2
    return out


def describe_checkpoint(path: str) -> dict:
    """The layout and the parts a checkpoint holds, for people (and before training)."""
    checkpoint = read_checkpoint(path)
    sd = state_dict_of(checkpoint)
    layout = detect_layout(sd)
    parts = {}
    try:
        text, _ = convert_text(sd, layout, path)
    except CheckpointError:
        text = {}
    if text:
        kind = text_tower_kind(text)
        if kind == 'hf':
            vocab, width = text['tower.transformer.embeddings.word_embeddings.weight'].shape
            layers = _blocks(text, r'tower\.transformer\.encoder\.layer\.(\d+)\.')
        else:
            vocab, width = text.get('tower.token_embedding.weight', torch.empty(0, 0)).shape
            layers = _blocks(text, r'tower\.transformer\.resblocks\.(\d+)\.')
        linear = text.get('tower.proj.weight', text.get('tower.text_projection.weight'))
        matrix = text.get('tower.text_projection')  # open_clip: [width, embed_dim]
        embed = linear.shape[0] if linear is not None else matrix.shape[1] if matrix is not None else width
        parts['text tower'] = dict(
            kind=kind, width=width, layers=layers, vocab_size=vocab, embed_dim=embed, tensors=len(text)
        )
    try:
        ms, _ = convert_swin_microsoft(sd, layout, 4, path)
        parts['image tower'] = dict(describe_swin(ms), tensors=len(ms))
    except (CheckpointError, KeyError):
        pass
    if ICAR_PROJECTOR in sd:
        parts['image projector'] = dict(shape=tuple(sd[ICAR_PROJECTOR].shape))
    extras = (
        sorted(k for k, v in checkpoint.items() if not isinstance(v, (dict, torch.Tensor)))
        if isinstance(checkpoint, dict)
        else []
    )
    return dict(path=path, layout=layout, tensors=len(sd), parts=parts, other_entries=extras)


# --- whole models: tools/test.py and --resume -----------------------------------
_TASK_PARTS = {
    'rpn_head': 'detector',
    'roi_head': 'detector',
    'bbox_head': 'detector',
    'decode_head': 'segmentor',
    'cls_head': 'recognizer',
}


def check_model_checkpoint(model: nn.Module, path: str) -> None:
    """Before mmengine loads ``path`` into a whole model (which it does
    leniently, with a warning): read it safely and stop with a report if it
    is truncated, executes code, was trained for another task, or lacks
    weights the model has. Extra keys and a different vocabulary are fine."""
    model = model.module if is_model_wrapper(model) else model
    sd = state_dict_of(read_checkpoint(path))
    own = model.state_dict()

    def heads(keys):
        return {k.split('.')[0] for k in keys} & _TASK_PARTS.keys()

    found, expected = ({_TASK_PARTS[h] for h in heads(d)} for d in (sd, own))
    if expected and found and not found & expected:
        raise CheckpointError(
            f'{path} holds a {"/".join(sorted(found))} (its heads: {", ".join(sorted(heads(sd)))}), but the '
            f'config builds a {"/".join(sorted(expected))}: expected a checkpoint trained with this config. '
            'Pass the checkpoint of this task, or the config it was trained with.'
        )
    missing, _, shape, matched = _compare_keys(own, sd)  # extra keys are fine
    if missing or shape:
        _raise_key_report(path, 'the model', len(own), len(matched), missing, (), shape)
