# UPerNet + iCAR Swin-B (224, window 7), text-generated cosine heads, ADE20K-150.
_base_ = './upernet_icar-swin-t_cosine_8xb2-160k_ade20k-512x512.py'

icar_checkpoint = 'checkpoints/icar_swin-b.pth'
model = dict(
    backbone=dict(checkpoint=icar_checkpoint, embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32]),
    decode_head=dict(in_channels=[128, 256, 512, 1024], classifier=dict(text_encoder=dict(checkpoint=icar_checkpoint))),
    auxiliary_head=dict(in_channels=512),
)
