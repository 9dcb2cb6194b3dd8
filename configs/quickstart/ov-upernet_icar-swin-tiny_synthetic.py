# Quickstart stage 3b: the zero-shot segmentation config path (as VOC 15/5), shrunk
# to CPU minutes: tiny iCAR Swin and text tower, 64 px colour-shape scenes.
# Trained on base-class pixels only (novel pixels ignored, novel logits out of
# the softmax); background labelled and scored by a learned embedding; evaluated
# on all classes by OVIoUMetric: mIoU over seen and unseen classes, hIoU.
# Backbone and (frozen) text encoder start from stage 2's iCAR-layout export;
# set icar_checkpoint=None (both places) to train without pre-training.
_base_ = '../segmentation/upernet_icar-swin-t_cosine_8xb2-20k_voc12aug-zs15-512x512.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

data_root = 'data/synthetic/segmentation/'
icar_checkpoint = 'work_dirs/icar-pretrain_swin-tiny_synthetic/icar_synthetic.pth'
metainfo = dict(classes=('background',) + ALL_CLASSES)
crop_size = (64, 64)
dims = 32
# The text tower stays as pre-trained (frozen): trained on base names alone it
# would drift from the novel names it has to score (as in the OV-COCO config).
# Enriched prompts in the pre-training's one template, like the pre-training.
text_encoder = dict(
    _delete_=True, type='icar_mm.OpenCLIPTextEncoder', model_name='tiny-random-clip', checkpoint=icar_checkpoint
)
head = dict(train_classes='synthetic:base', classifier=dict(templates='single', enriched=True))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        checkpoint=icar_checkpoint, embed_dims=dims, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], drop_path_rate=0.0
    ),
    decode_head=dict(
        head,
        in_channels=[dims, 2 * dims, 4 * dims, 8 * dims],
        channels=32,
        classifier=dict(head['classifier'], text_encoder=text_encoder),
    ),
    auxiliary_head=dict(head, in_channels=4 * dims, channels=16),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    _delete_=True,
)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset, data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'), pipeline=train_pipeline
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset, data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'), pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(unseen_classes='synthetic:novel')
test_evaluator = val_evaluator

max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters))

# a fixed seed: the summary's numbers reproduce from run to run
randomness = dict(seed=0)
