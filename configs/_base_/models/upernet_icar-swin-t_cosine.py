# UPerNet on an iCAR Swin-T whose decode and auxiliary heads classify pixels with
# the text-generated cosine classifier. One text encoder (the decode head's) serves
# both heads; the vocabulary comes from the dataset's metainfo (VocabularyHook).
# Weights are local files: the iCAR checkpoint feeds the backbone
# (visual_model.backbone.*) and the text encoder (sentence_model.*).
_base_ = 'mmseg::_base_/models/upernet_swin.py'

icar_checkpoint = 'checkpoints/icar_swin-t.pth'
text_encoder = dict(type='icar_mm.HFTextEncoder', model_path='checkpoints/roberta-base',
                    embed_dim=256, checkpoint=icar_checkpoint)

model = dict(
    type='icar_mm.TextEncoderDecoder',
    pretrained=None,
    backbone=dict(type='icar_mm.ICARSwin', checkpoint=icar_checkpoint, init_cfg=None,
                  embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
                  use_abs_pos_embed=False, drop_path_rate=0.3, patch_norm=True),
    decode_head=dict(
        type='icar_mm.TextCosineUPerHead', in_channels=[96, 192, 384, 768],
        classifier=dict(text_encoder=text_encoder, templates='imagenet80', enriched=True)),
    auxiliary_head=dict(
        type='icar_mm.TextCosineFCNHead', in_channels=384,
        classifier=dict(templates='imagenet80', enriched=True)))  # no text_encoder: shares the decode head's
