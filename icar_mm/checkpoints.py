"""The one place that reads, recognises and converts checkpoints.

Layouts we recognise (by sentinel keys, open_clip style):

* ``icar``           iCAR vision-language checkpoints: ``sentence_model.*`` (text),
                     ``visual_model.backbone.*`` (Swin), ``visual_model.projector.*``;
* ``open_clip``      OpenCLIP ``CLIP`` (``token_embedding``, ``transformer.*``,
                     ``visual.*``) and ``CustomTextCLIP`` (``text.*``);
* ``microsoft_swin`` the official Swin releases (``layers.N.blocks...``, ``patch_embed.proj``);
* ``mm_swin``        OpenMMLab Swin state dicts (``stages.N.blocks...``, ``patch_embed.projection``);
* ``icar_mm``        our own modules and models (``tower.*``, ``*.text_encoder.tower.*``).

Everything is read with ``torch.load(weights_only=True)``; loading is strict,
relaxed only for keys a converter names, and missing / unexpected keys are
reported by name. A file in no known layout is refused.
"""
import os
import os.path as osp
import pickle
from typing import Dict, Iterable, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

StateDict = Dict[str, torch.Tensor]
LAYOUTS = ('icar', 'open_clip', 'microsoft_swin', 'mm_swin', 'icar_mm')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


def _safe_globals():
    """Plain-data classes that mmengine writes into its own checkpoints' meta."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    return [HistoryBuffer, np.dtype, np.ndarray, multiarray._reconstruct, multiarray.scalar, *dtypes]


def read_checkpoint(path: str) -> dict:
    """Read a checkpoint file safely (``weights_only``), with clear errors."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint {path!r} does not exist. Pass a local file; '
                                'nothing is downloaded at run time.')
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'Refused to load {path!r}: it contains pickled objects that could execute code when '
            f'loaded, and only tensors and plain data are accepted ({str(e).splitlines()[0]}). '
            'If you trust the file, re-save just its weights: '
            "torch.save(torch.load(path, weights_only=False)['state_dict'], 'weights.pth').") from e
    except (RuntimeError, EOFError, OSError) as e:
        size = os.path.getsize(path)
        raise CheckpointError(
            f'Cannot read checkpoint {path!r} ({size} bytes): the file is truncated or corrupt '
            f'({str(e).splitlines()[0]}). Copy or download it again and check its size.') from e


def state_dict_of(checkpoint: dict) -> StateDict:
    """The weights inside a checkpoint dict (``state_dict``/``model``/``module`` wrappers)."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    sd = {k[7:] if k.startswith('module.') else k: v for k, v in checkpoint.items()
          if isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError('The checkpoint holds no tensors: expected a state dict, '
                              'or a dict with "state_dict" / "model".')
    return sd


def detect_layout(sd: StateDict) -> str:
    keys = list(sd)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('sentence_model.') or has('visual_model.'):
        return 'icar'
    if 'token_embedding.weight' in sd or has('text.token_embedding') or has('visual.conv1') \
            or has('visual.trunk') or 'logit_scale' in sd:
        return 'open_clip'
    if 'patch_embed.proj.weight' in sd and has('layers.0.blocks.0.attn'):
        return 'microsoft_swin'
    if 'patch_embed.projection.weight' in sd and has('stages.0.blocks.0.attn'):
        return 'mm_swin'
    if has('tower.') or any('.text_encoder.tower.' in k or k.startswith('text_encoder.tower.')
                            for k in keys) or has('backbone.'):
        return 'icar_mm'
    raise CheckpointError(
        f'Unknown checkpoint layout (first keys: {keys[:5]}). Known layouts: {", ".join(LAYOUTS)} '
        '(see icar_mm/checkpoints.py for their sentinel keys). Convert the file to one of them.')


# --- text side -----------------------------------------------------------------
_OPEN_CLIP_TEXT = ('token_embedding.', 'positional_embedding', 'transformer.', 'ln_final.',
                   'text_projection')
# Parts of a text-side checkpoint that belong to the image side, named, not silently dropped.
_TEXT_IGNORED = ('visual.', 'visual_model.', 'logit_scale', 'logit_bias', 'attn_mask')


def convert_text(sd: StateDict, layout: str) -> Tuple[StateDict, Tuple[str, ...]]:
    """Map a checkpoint's text tower to our text encoder's keys (``tower.*``).
    Returns the converted dict and the prefixes deliberately left out."""
    if layout == 'open_clip':
        if any(k.startswith('text.') for k in sd):
            return {'tower.' + k[5:]: v for k, v in sd.items() if k.startswith('text.')}, _TEXT_IGNORED
        return {'tower.' + k: v for k, v in sd.items() if k.startswith(_OPEN_CLIP_TEXT)}, _TEXT_IGNORED
    if layout == 'icar':
        return {'tower.' + k[len('sentence_model.'):]: v for k, v in sd.items()
                if k.startswith('sentence_model.')}, _TEXT_IGNORED
    if layout == 'icar_mm':
        out = {}
        for k, v in sd.items():
            i = k.find('text_encoder.tower.')
            if k.startswith('tower.'):
                out[k] = v
            elif i >= 0 and (i == 0 or k[i - 1] == '.'):
                out[k[i + len('text_encoder.'):]] = v
        return out, ()
    raise CheckpointError(f'A {layout!r} checkpoint holds no text encoder; expected an '
                          'open_clip, iCAR (sentence_model.*) or icar_mm checkpoint.')


def load_strict(module: nn.Module, sd: StateDict, source: str, what: str,
                allowed_missing: Iterable[str] = (), ignored: Iterable[str] = (),
                left_out: Iterable[str] = ()) -> None:
    """Strict ``load_state_dict`` with named exceptions and a clear report.

    ``allowed_missing``/``ignored`` are key prefixes a converter explicitly
    does not expect to match; anything else missing or unexpected is an error.
    ``left_out`` names what the converter dropped on purpose (for the log).
    """
    own = module.state_dict()
    allowed_missing, ignored, left_out = tuple(allowed_missing), tuple(ignored), tuple(left_out)
    missing = [k for k in own if k not in sd and not k.startswith(allowed_missing)
               and not k.endswith('_extra_state')]
    unexpected = [k for k in sd if k not in own and not k.startswith(ignored)]
    shape = [f'{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}'
             for k in sd if k in own and sd[k].shape != own[k].shape]
    matched = [k for k in sd if k in own and sd[k].shape == own[k].shape]
    if not matched or missing or unexpected or shape:
        lines = [f'Cannot load {what} from {source}: {len(matched)} of {len(own)} tensors match.']
        for title, items in (('missing in checkpoint', missing), ('unexpected in checkpoint', unexpected),
                             ('shape mismatch', shape)):
            if items:
                more = f' ... and {len(items) - 8} more' if len(items) > 8 else ''
                lines.append(f'  {title} ({len(items)}): {", ".join(items[:8])}{more}')
        lines.append('Check that the model config (architecture, sizes) matches the checkpoint.')
        raise CheckpointError('\n'.join(lines))
    module.load_state_dict({k: sd[k] for k in matched}, strict=False)
    MMLogger.get_current_instance().info(
        f'Loaded {what}: {len(matched)} tensors from {source}'
        + (f' (left out as intended: {", ".join(p.rstrip(".") for p in left_out)})' if left_out else ''))


def load_text_encoder(encoder: nn.Module, path: str) -> None:
    sd = state_dict_of(read_checkpoint(path))
    layout = detect_layout(sd)
    converted, left_out = convert_text(sd, layout)
    load_strict(encoder, converted, f'{path} ({layout} layout)', 'text encoder', left_out=left_out)
