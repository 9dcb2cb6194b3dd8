# A stock mmseg FCN shrunk to run on CPU in seconds (ResNetV1c-18/16ch, 64 px),
# on the synthetic segmentation data the tests write under `data_root`.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

data_root = 'data/synthetic_seg/'
metainfo = dict(classes=ALL_CLASSES)
crop_size = (64, 64)

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, base_channels=16, stem_channels=16),
    decode_head=dict(in_channels=128, channels=32, num_classes=len(ALL_CLASSES)),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes=len(ALL_CLASSES)),
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
    batch_size=1,
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

train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
