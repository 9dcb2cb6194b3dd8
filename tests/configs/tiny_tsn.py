# A stock mmaction2 TSN shrunk to run on CPU in seconds (ResNet-18, 3 segments, 64 px),
# on the synthetic videos the tests write under `data_root`.
_base_ = 'mmaction::recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

data_root = 'data/synthetic_video/'
model = dict(backbone=dict(depth=18, pretrained=None), cls_head=dict(in_channels=512, num_classes=len(ALL_CLASSES)))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=3),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=3, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        ann_file=data_root + 'train_list.txt',
        data_prefix=dict(video=data_root + 'videos/train'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        ann_file=data_root + 'val_list.txt', data_prefix=dict(video=data_root + 'videos/val'), pipeline=test_pipeline
    ),
)
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
