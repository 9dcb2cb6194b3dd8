"""What a checkpoint holds, and what of it each task config would load, before anyone trains.

    python tools/inspect_checkpoint.py CKPT [CONFIG ...] [--cfg-options k=v ...]

Prints the detected layout and the parts found (text tower and its kind, image
tower with its Swin size, image projector). For each config given, the model
is built with every ``checkpoint=`` / ``projector_checkpoint=`` the config sets
pointed at CKPT and each part is loaded the way training would load it:
what loads, what cannot (with the reason), and what starts fresh.
"""

import argparse
import os.path as osp
import sys
from collections import Counter

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

from icar_mm.apis import load_config  # noqa: E402
from icar_mm.checkpoints import (  # noqa: E402
    CheckpointError,
    describe_checkpoint,
    load_projector,
    load_swin3d_backbone,
    load_swin_backbone,
    load_text_encoder,
)
from icar_mm.models import ICARSwin, ICARSwin3D  # noqa: E402
from icar_mm.text.encoder import _TextEncoderBase  # noqa: E402


def print_description(info: dict) -> None:
    print(
        f'{info["path"]}: {info["layout"]} layout, {info["tensors"]} tensors'
        + (f'; also holds {", ".join(info["other_entries"])}' if info['other_entries'] else '')
    )
    parts = info['parts']
    text = parts.get('text tower')
    if text:
        kind = 'Hugging Face (RoBERTa-style)' if text['kind'] == 'hf' else 'open_clip transformer'
        print(
            f'  text tower:      {kind}, width {text["width"]}, {text["layers"]} layers, vocabulary '
            f'{text["vocab_size"]}, -> {text["embed_dim"]}-d ({text["tensors"]} tensors)'
        )
    else:
        print('  text tower:      none')
    image = parts.get('image tower')
    if image:
        extra = f', window {image["window_size"]}' if 'window_size' in image else ''
        print(
            f'  image tower:     {image["name"]}{" (video, 3D)" if image["video"] else ""}: embed_dims '
            f'{image["embed_dims"]}, depths {list(image["depths"])}, heads {list(image["num_heads"])}{extra}, '
            f'last stage {image["last_stage_channels"]} channels ({image["tensors"]} tensors)'
        )
    else:
        print('  image tower:     none')
    projector = parts.get('image projector')
    print(f'  image projector: {"Linear(%d -> %d, no bias)" % projector["shape"][::-1] if projector else "none"}')


def _take_checkpoints(cfg, found: Counter) -> None:
    """Count the parts the model config names a checkpoint for and unset them,
    so that building the model loads nothing."""
    if isinstance(cfg, dict):
        if isinstance(cfg.get('checkpoint'), str):
            found[str(cfg.get('type', '')).split('.')[-1]] += 1
            cfg['checkpoint'] = None
        if isinstance(cfg.get('projector_checkpoint'), str):
            found['projector'] += 1
            cfg['projector_checkpoint'] = None
        for value in cfg.values():
            _take_checkpoints(value, found)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _take_checkpoints(value, found)


def _parts(model):
    """(name, module, tag, load function) of every part that loads from a checkpoint."""
    for name, m in model.named_modules():
        if isinstance(m, ICARSwin):
            yield name, m, type(m).__name__, lambda p, m=m: load_swin_backbone(m, p, len(m.stages))
        elif isinstance(m, ICARSwin3D):
            yield name, m, type(m).__name__, lambda p, m=m: load_swin3d_backbone(m, p, m._inflate)
        elif isinstance(m, _TextEncoderBase):
            yield name, m, type(m).__name__, lambda p, m=m: load_text_encoder(m, p)
        elif getattr(m, 'projection', None) is not None and hasattr(m, 'projector_checkpoint'):
            yield f'{name}.projection', m.projection, 'projector', lambda p, m=m: load_projector(m.projection, p)


def report_config(config: str, path: str, cfg_options) -> None:
    cfg = load_config(config, cfg_options=cfg_options)
    print(f'\n{config}:')
    found = Counter()
    _take_checkpoints(cfg.model, found)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    try:
        model = MODELS.build(cfg.model)
    except Exception as e:  # a report, not a crash: say why and go on with the next config
        print(f'  cannot build the model: {type(e).__name__}: {e}')
        return
    loaded = set()
    for name, module, tag, load in _parts(model):
        if not found[tag]:
            print(f'  {name}: starts fresh (the config names no checkpoint for it)')
            continue
        found[tag] -= 1
        try:
            n = load(path)
        except CheckpointError as e:
            print(f'  {name}: CANNOT LOAD\n    ' + str(e).replace('\n', '\n    '))
            continue
        loaded |= {id(p) for p in module.parameters()}
        print(f'  {name}: loads {n} tensors ({type(module).__name__})')
    fresh = []
    for name, child in model.named_children():
        n = sum(p.numel() for p in child.parameters() if id(p) not in loaded)
        if n:
            fresh.append(f'{name} ({n / 1e6:.2f}M)' if n >= 1e4 else f'{name} ({n})')
    print(f'  starts fresh: {", ".join(fresh) if fresh else "nothing"}')


def main():
    parser = argparse.ArgumentParser(description='Show what a checkpoint holds and what each config would load')
    parser.add_argument('checkpoint')
    parser.add_argument('configs', nargs='*', help='task configs to check the checkpoint against')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (e.g. a text encoder model_path)',
    )
    args = parser.parse_args()
    MMLogger.get_instance('inspect_checkpoint', log_level='ERROR')  # the loaders' log lines stay quiet
    try:
        print_description(describe_checkpoint(args.checkpoint))
    except (CheckpointError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}')
    for config in args.configs:
        report_config(config, args.checkpoint, args.cfg_options)


if __name__ == '__main__':
    main()
