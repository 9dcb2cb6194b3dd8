# Zero-shot VOC 15/5: trained on the 15 seen classes (+ background), evaluated on
# all 20 (+ background) with mIoU over seen and unseen classes and their harmonic
# mean. Unseen: potted plant, sheep, sofa, train, tv monitor. Their pixels are
# ignored in training and their logits leave the softmax (train_classes).
# VOC labels background explicitly: a learned embedding scores it in its place.
_base_ = [
    '../_base_/models/upernet_icar-swin-t_cosine.py',
    '../_base_/icar_runtime.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/adamw-swin_160k.py',
]
crop_size = (512, 512)
background = dict(background='learned', background_class='background')
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(train_classes='voc:zs_seen', classifier=background),
    auxiliary_head=dict(train_classes='voc:zs_seen', classifier=background),
)

train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
val_evaluator = dict(type='icar_mm.OVIoUMetric', unseen_classes='voc:zs_unseen')
test_evaluator = val_evaluator

train_cfg = dict(max_iters=20000, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=20000, by_epoch=False),
]
default_hooks = dict(checkpoint=dict(interval=2000))
