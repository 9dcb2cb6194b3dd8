# Mask R-CNN, iCAR Swin-B (224, window 7), text-generated cosine box head, COCO 1x.
_base_ = './mask-rcnn_icar-swin-t_fpn_cosine_1x_coco.py'

icar_checkpoint = 'checkpoints/icar_swin-b.pth'
model = dict(
    backbone=dict(
        embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], drop_path_rate=0.3, checkpoint=icar_checkpoint
    ),
    neck=dict(in_channels=[128, 256, 512, 1024]),
    roi_head=dict(bbox_head=dict(classifier=dict(text_encoder=dict(checkpoint=icar_checkpoint)))),
)
