# Quickstart stage 3a: the OV-COCO detector config path, shrunk to CPU
# minutes (tiny iCAR Swin, tiny text tower, 128 px colour-shape scenes), trained
# on base-class boxes only and evaluated on base and novel classes (OVCocoMetric).
# Backbone and (frozen) text encoder start from stage 2's iCAR-layout export;
# set icar_checkpoint=None (both places) to train without pre-training.
_base_ = '../../configs/detection/mask-rcnn_icar-swin-t_fpn_cosine_1x_ov-coco.py'

from icar_mm.datasets.synthetic import ALL_CLASSES, BASE_CLASSES, NOVEL_CLASSES  # noqa: E402

metainfo = dict(classes=ALL_CLASSES, base_classes=BASE_CLASSES, novel_classes=NOVEL_CLASSES)
data_root = 'data/synthetic/detection/'
icar_checkpoint = 'work_dirs/icar-pretrain_swin-tiny_synthetic/icar_synthetic.pth'
dims = 32
model = dict(
    backbone=dict(
        embed_dims=dims, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], drop_path_rate=0.0, checkpoint=icar_checkpoint
    ),
    neck=dict(in_channels=[dims, 2 * dims, 4 * dims, 8 * dims], out_channels=dims),
    rpn_head=dict(in_channels=dims, feat_channels=dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=dims),
        bbox_head=dict(
            in_channels=dims,
            fc_out_channels=64,
            train_classes=BASE_CLASSES,
            classifier=dict(
                text_encoder=dict(
                    _delete_=True,
                    type='icar_mm.OpenCLIPTextEncoder',
                    model_name='tiny-random-clip',
                    checkpoint=icar_checkpoint,
                ),
                templates='single',
                enriched=True,
            ),
        ),
        mask_roi_extractor=dict(out_channels=dims),
        mask_head=dict(in_channels=dims, conv_out_channels=dims),
    ),
)

train_pipeline = [
    dict(type='icar_mm.LoadImageFromFile'),  # names the file and what it holds if it cannot be decoded
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=8, val_interval=8)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
default_hooks = dict(logger=dict(interval=8))

# a fixed seed: the summary's numbers reproduce from run to run
randomness = dict(seed=0)
