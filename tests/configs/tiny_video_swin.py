# The Kinetics-400 config path shrunk to CPU seconds: tiny video Swin, tiny text
# tower, 64 px synthetic clips of moving colour shapes (labels index 'synthetic').
_base_ = '../../configs/recognition/swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py'

data_root = 'data/synthetic_video/'
dims = 32
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=dims, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4]),
        window_size=(2, 4, 4),
        drop_path_rate=0.0,
        checkpoint=None,
    ),
    cls_head=dict(
        in_channels=8 * dims,
        dropout_ratio=0.0,
        classifier=dict(
            text_encoder=dict(_delete_=True, type='icar_mm.OpenCLIPTextEncoder', model_name='tiny-random-clip'),
            projector_checkpoint=None,
        ),
    ),
)

train_pipeline = [
    dict(type='icar_mm.VideoInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=1),
    dict(type='icar_mm.VideoDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [  # 2 clips x 3 crops, averaged by the head (average_clips='prob')
    dict(type='icar_mm.VideoInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=2, test_mode=True),
    dict(type='icar_mm.VideoDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='ThreeCrop', crop_size=64),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
loader = dict(batch_size=2, num_workers=0, persistent_workers=False)
train_dataloader = dict(
    **loader,
    dataset=dict(
        vocabulary='synthetic',
        ann_file=data_root + 'train_list.txt',
        data_prefix=dict(video=data_root + 'videos/train'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    **loader,
    dataset=dict(
        vocabulary='synthetic',
        ann_file=data_root + 'val_list.txt',
        data_prefix=dict(video=data_root + 'videos/val'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=1e-3))  # float32 (AMP: tests/test_real_size.py)
train_cfg = dict(max_epochs=1, val_begin=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
