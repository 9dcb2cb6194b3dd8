"""Checkpoints in the iCAR authors' real layout, built the way their code sees
them and never through our own modules or converters:

* text tower: a Hugging Face ``RobertaModel(add_pooling_layer=False)`` (small,
  random init) with a byte-level BPE tokenizer trained offline with
  ``tokenizers``, saved as a local model directory, and a bias-free
  ``Linear(hidden, 256)`` projector; stored as ``sentence_model.backbone.*`` /
  ``sentence_model.projector.weight`` with the ``position_ids`` buffer older
  transformers saved;
* image tower: timm's Swin, its keys mapped to Microsoft's release (timm puts
  each patch merging at the start of the next stage) and then the authors'
  three names (``rel_pos_embed_table``, ``relative_coords``,
  ``channel_reduction``), as ``visual_model.backbone.*``, plus a bias-free
  ``visual_model.projector.weight``;
* wrapped as ``{'model': ..., 'args': argparse.Namespace(...)}``.
"""

import argparse
import os.path as osp
import re

import torch
import torch.nn as nn

# The architecture of the small image tower (a Swin-T shape, narrower); the
# test configs under tests/configs/tiny_icar_*.py use the same.
SWIN = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4)
EMBED_DIM = 256
ROBERTA = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=40,
    type_vocab_size=1,
)
AUTHOR_RENAMES = (
    ('relative_position_bias_table', 'rel_pos_embed_table'),
    ('relative_position_index', 'relative_coords'),
    ('.reduction.', '.channel_reduction.'),
)


def build_roberta_dir(root: str) -> str:
    """A local RoBERTa model directory: config.json, and the byte-level BPE
    tokenizer's vocab.json and merges.txt."""
    from icar_mm.testing import write_roberta_dir
    from icar_mm.text.vocabulary import get_templates, load_vocabulary

    synthetic = load_vocabulary('synthetic')
    corpus = [t.format(c) for t in get_templates('video28') + get_templates('imagenet80')[:20] for c in synthetic.names]
    corpus += [f'{n}, {d}' for n, d in zip(synthetic.names, synthetic.descriptions)]
    return write_roberta_dir(osp.join(root, 'roberta-tiny'), corpus, **ROBERTA)


def authors_text_tower(roberta_dir: str, seed: int = 0):
    """(RobertaModel without pooler, bias-free projector), random init."""
    from transformers import RobertaConfig, RobertaModel

    torch.manual_seed(seed)
    roberta = RobertaModel(RobertaConfig.from_pretrained(roberta_dir), add_pooling_layer=False).eval()
    projector = nn.Linear(roberta.config.hidden_size, EMBED_DIM, bias=False)
    return roberta, projector


def timm_swin(seed: int = 0, embed_dim: int = SWIN['embed_dim'], img_size: int = 256):
    import timm.models.swin_transformer as ts

    torch.manual_seed(seed)
    return ts.SwinTransformer(
        img_size=img_size, patch_size=4, num_classes=0, drop_path_rate=0.0, **dict(SWIN, embed_dim=embed_dim)
    ).eval()


def timm_to_microsoft(model) -> dict:
    """timm's Swin state dict in the layout of the Microsoft release (the
    inverse of timm's own ``checkpoint_filter_fn``): each patch merging ends the
    previous stage, the head is a plain linear, the index buffers (which timm
    keeps out of its state dict) are there."""
    sd = dict(model.state_dict())
    for name, module in model.named_modules():
        if hasattr(module, 'relative_position_index'):
            sd[f'{name}.relative_position_index'] = module.relative_position_index
    out = {}
    for k, v in sd.items():
        k = re.sub(r'^layers\.(\d+)\.downsample\.', lambda m: f'layers.{int(m[1]) - 1}.downsample.', k)
        out[k.replace('head.fc.', 'head.')] = v
    return out


def authors_names(microsoft: dict) -> dict:
    out = {}
    for k, v in microsoft.items():
        for ms, theirs in AUTHOR_RENAMES:
            k = k.replace(ms, theirs)
        out[k] = v
    return out


def icar_model_dict(roberta, projector, swin, visual_projector) -> dict:
    sd = {f'sentence_model.backbone.{k}': v for k, v in roberta.state_dict().items()}
    # older transformers saved this buffer; the authors' files hold it
    n = roberta.config.max_position_embeddings
    sd['sentence_model.backbone.embeddings.position_ids'] = torch.arange(n).expand((1, -1))
    sd['sentence_model.projector.weight'] = projector.weight
    sd.update({f'visual_model.backbone.{k}': v for k, v in authors_names(timm_to_microsoft(swin)).items()})
    sd['visual_model.projector.weight'] = visual_projector.weight
    return {k: v.detach().clone() for k, v in sd.items()}


def save_icar(path: str, model: dict) -> str:
    args = argparse.Namespace(
        cfg='configs/swin_tiny_patch4_window7_224.yaml',
        text_model='roberta-base',
        batch_size=128,
        lr=1e-3,
        epochs=30,
        tags=['in22k', 'yfcc'],
        zip=False,
    )
    torch.save({'model': model, 'args': args, 'epoch': 29}, path)
    return path


def write_real_layout(root: str) -> dict:
    """Every file the tests need, under ``root``; returns their paths and references."""
    roberta_dir = build_roberta_dir(root)
    roberta, projector = authors_text_tower(roberta_dir)
    swin = timm_swin()
    torch.manual_seed(1)
    visual_projector = nn.Linear(8 * SWIN['embed_dim'], EMBED_DIM, bias=False)
    model = icar_model_dict(roberta, projector, swin, visual_projector)
    full = save_icar(osp.join(root, 'icar_full.pth'), model)
    text_half = save_icar(
        osp.join(root, 'icar_text.pth'), {k: v for k, v in model.items() if k.startswith('sentence_model.')}
    )
    image_half = save_icar(
        osp.join(root, 'icar_image.pth'), {k: v for k, v in model.items() if k.startswith('visual_model.')}
    )
    wider = icar_model_dict(roberta, projector, timm_swin(embed_dim=48), nn.Linear(8 * 48, EMBED_DIM, bias=False))
    other_size = save_icar(osp.join(root, 'icar_swin48.pth'), wider)
    return dict(
        root=root,
        roberta_dir=roberta_dir,
        full=full,
        text_half=text_half,
        image_half=image_half,
        other_size=other_size,
        model=model,
        roberta=roberta,
        projector=projector,
        swin=swin,
        visual_projector=visual_projector,
    )
