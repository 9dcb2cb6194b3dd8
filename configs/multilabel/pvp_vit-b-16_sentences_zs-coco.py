# Zero-shot multi-label COCO-80: pseudo visual prompts learned from the shipped
# COCO-80 sentences only (no image labels), evaluated on COCO val2014 images.
# Text and image towers come from one local open_clip ViT-B/16 checkpoint, so
# sentences and images share the joint space; nothing is downloaded.
_base_ = './_base_/pvp_runtime.py'

clip_checkpoint = 'checkpoints/open_clip_vit-b-16.pt'
model = dict(
    type='icar_mm.PVPMultiLabelClassifier',
    classifier=dict(
        text_encoder=dict(type='icar_mm.OpenCLIPTextEncoder', model_name='ViT-B-16', checkpoint=clip_checkpoint),
        vocabulary='coco',
        templates='single',
        enriched=False,
        logit_scale=20.0,
    ),
    image_encoder=dict(type='icar_mm.OpenCLIPImageEncoder', model_name='ViT-B-16', checkpoint=clip_checkpoint),
    loss=dict(type='asl', gamma_neg=4.0, gamma_pos=0.0, clip=0.05),
    label_adapter='linear',  # contrastive transfer: prompts -> text labels
    text_loss_weight=1.0,
    transfer_weight=1.0,
    transfer_temperature=0.07,
    score_weights=dict(frozen_prompt=0.5, frozen_text=0.5),  # zero-shot: no image adapter
    data_preprocessor=dict(
        type='icar_mm.MultiLabelDataPreprocessor',
        mean=[122.771, 116.746, 104.094],
        std=[68.501, 66.632, 70.323],
        bgr_to_rgb=True,
    ),
)

# --- sentences (training) -------------------------------------------------------------
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='icar_mm.SentenceDataset', ann_file='coco80', vocabulary='coco'),
)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=2000)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=2000, eta_min=1e-5)]

# --- images (zero-shot evaluation) ---------------------------------------------------
data_root = 'data/coco/'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='icar_mm.PackMultiLabelInputs'),
]
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='icar_mm.CocoMultiLabelDataset',
        data_root=data_root,
        ann_file='annotations/instances_val2014.json',
        data_prefix=dict(img='val2014/'),
        vocabulary='coco',
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='icar_mm.MultiLabelMetric', thr=0.5, classwise=True)
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
