# The iCAR variant of the zero-shot COCO config: image side = iCAR Swin-B (global
# pooling + the checkpoint's visual_model.projector into the 256-d joint space),
# text side = the same checkpoint's RoBERTa sentence model (local HF files).
_base_ = './pvp_vit-b-16_sentences_zs-coco.py'

icar_checkpoint = 'checkpoints/icar_swin-b_roberta-b.pth'
model = dict(
    classifier=dict(
        text_encoder=dict(_delete_=True, type='icar_mm.ICARTextEncoder', checkpoint=icar_checkpoint), enriched=False
    ),  # the 16-token iCAR tower would cut enriched descriptions
    image_encoder=dict(
        _delete_=True,
        type='icar_mm.PooledImageEncoder',
        in_channels=1024,
        embed_dim=256,
        projector_checkpoint=icar_checkpoint,
        backbone=dict(
            type='icar_mm.ICARSwin',
            checkpoint=icar_checkpoint,
            embed_dims=128,
            depths=[2, 2, 18, 2],
            num_heads=[4, 8, 16, 32],
            window_size=7,
            out_indices=(3,),
            drop_path_rate=0.0,
        ),
    ),
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
)
