# Multi-label zero-shot path shrunk to CPU seconds: prompts learned from a
# sentence file, evaluated on synthetic shapes-world images (COCO json).
# Tiny random towers: this checks the machinery, not accuracy.
_base_ = '../../configs/multilabel/pvp_vit-b-16_sentences_zs-coco.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

data_root = 'data/synthetic_multilabel/'
model = dict(
    classifier=dict(
        text_encoder=dict(_delete_=True, type='icar_mm.OpenCLIPTextEncoder', model_name='tiny-random-clip'),
        vocabulary=list(ALL_CLASSES),
    ),
    image_encoder=dict(_delete_=True, type='icar_mm.OpenCLIPImageEncoder', model_name='tiny-random-clip'),
)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='sentences.txt', vocabulary=list(ALL_CLASSES)),
)
train_cfg = dict(max_iters=20, val_interval=20)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=20, eta_min=1e-5)]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='icar_mm.PackMultiLabelInputs'),
]
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/val/'),
        vocabulary=list(ALL_CLASSES),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=20))
