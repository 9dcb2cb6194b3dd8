# UPerNet on an iCAR Swin-T whose decode and auxiliary heads classify pixels with
# the text-generated cosine classifier. One text encoder (the decode head's) serves
# both heads; the vocabulary comes from the dataset's metainfo (VocabularyHook).
# Weights are local files: the iCAR checkpoint feeds the backbone
# (visual_model.backbone.*) and the text encoder (sentence_model.*).
# The authors' recipe (their mmseg `lanhead`): CLIP's 80 ImageNet templates, plain
# class names, one random template per class per step, the text tower trained end
# to end (frozen=True is their fix_lanhead), fixed scale 1/0.05, and a fresh
# projection from the head's channels to the text space (the iCAR projector is
# not loaded). Enriched descriptions: classifier=dict(enriched=True).
_base_ = 'mmseg::_base_/models/upernet_swin.py'

icar_checkpoint = 'checkpoints/icar_swin-t.pth'
text_encoder = dict(type='icar_mm.ICARTextEncoder', checkpoint=icar_checkpoint, frozen=False)

model = dict(
    type='icar_mm.TextEncoderDecoder',
    pretrained=None,
    backbone=dict(
        type='icar_mm.ICARSwin',
        checkpoint=icar_checkpoint,
        init_cfg=None,
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        use_abs_pos_embed=False,
        drop_path_rate=0.3,
        patch_norm=True,
    ),
    decode_head=dict(
        type='icar_mm.TextCosineUPerHead',
        in_channels=[96, 192, 384, 768],
        classifier=dict(text_encoder=text_encoder, templates='imagenet80', enriched=False),
    ),
    auxiliary_head=dict(
        type='icar_mm.TextCosineFCNHead', in_channels=384, classifier=dict(templates='imagenet80', enriched=False)
    ),
)  # no text_encoder: shares the decode head's
