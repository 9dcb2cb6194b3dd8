# The ADE20K UPerNet config path, shrunk to CPU seconds: tiny iCAR Swin, tiny text
# tower, 64 px synthetic colour-shape scenes (background pixels ignored, as ADE20K).
_base_ = '../../configs/segmentation/upernet_icar-swin-t_cosine_8xb2-160k_ade20k-512x512.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

data_root = 'data/synthetic_seg/'
metainfo = dict(classes=ALL_CLASSES)
crop_size = (64, 64)
dims = 32
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(checkpoint=None, embed_dims=dims, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], drop_path_rate=0.0),
    decode_head=dict(
        in_channels=[dims, 2 * dims, 4 * dims, 8 * dims],
        channels=32,
        classifier=dict(
            text_encoder=dict(_delete_=True, type='icar_mm.OpenCLIPTextEncoder', model_name='tiny-random-clip'),
            templates='single',
        ),
    ),
    auxiliary_head=dict(in_channels=4 * dims, channels=16, classifier=dict(templates='single')),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg', seg_map_suffix='.png')
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset,
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline,
        _delete_=True,
    ),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline,
        _delete_=True,
    ),
)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = []
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
