# Dual adapter fine-tuning on labelled synthetic images, from the sentence-trained tiny model.
_base_ = './tiny_multilabel.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

model = dict(
    image_adapter=dict(reduction=4, ratio=0.2),
    score_weights=dict(frozen_prompt=0.25, frozen_text=0.25, adapted_prompt=0.25, adapted_text=0.25),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='icar_mm.PackMultiLabelInputs'),
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        _delete_=True,
        type='icar_mm.CocoMultiLabelDataset',
        data_root={{_base_.data_root}},
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/train/'),
        vocabulary=list(ALL_CLASSES),
        pipeline=train_pipeline,
    ),
)
train_cfg = dict(max_iters=10, val_interval=10)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=10, eta_min=1e-5)]
default_hooks = dict(checkpoint=dict(interval=10))
