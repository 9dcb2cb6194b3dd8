# Fine-tuning with image labels: start from the sentence-trained model, train the
# image adapter on COCO train2014 images; test scores mix frozen and adapted
# image features against the prompts and the adapted labels (dual adapter).
_base_ = './pvp_vit-b-16_sentences_zs-coco.py'

load_from = 'work_dirs/pvp_vit-b-16_sentences_zs-coco/iter_2000.pth'
model = dict(
    image_adapter=dict(reduction=4, ratio=0.2),
    score_weights=dict(frozen_prompt=0.25, frozen_text=0.25, adapted_prompt=0.25, adapted_text=0.25),
    tune_on_images=False,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.8, 1.25), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='icar_mm.PackMultiLabelInputs'),
]
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='icar_mm.CocoMultiLabelDataset',
        data_root={{_base_.data_root}},
        ann_file='annotations/instances_train2014.json',
        data_prefix=dict(img='train2014/'),
        vocabulary='coco',
        pipeline=train_pipeline,
    ),
)
train_cfg = dict(max_iters=5000, val_interval=1000)
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=5000, eta_min=1e-6)]
