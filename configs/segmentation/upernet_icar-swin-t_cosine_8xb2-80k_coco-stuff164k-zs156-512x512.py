# Zero-shot COCO-Stuff 156/15: trained on the 156 seen classes, evaluated on all
# 171 with mIoU over seen and unseen classes and hIoU (unseen: the 15 classes of
# the SPNet / ZegFormer split, vocabulary split coco_stuff_171:zs_unseen).
_base_ = [
    '../_base_/models/upernet_icar-swin-t_cosine.py',
    '../_base_/icar_runtime.py',
    'mmseg::_base_/datasets/coco-stuff164k.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/adamw-swin_160k.py',
]
crop_size = (512, 512)
seen = 'coco_stuff_171:zs_seen'
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(train_classes=seen),
    auxiliary_head=dict(train_classes=seen),
)

train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
val_evaluator = dict(type='icar_mm.OVIoUMetric', unseen_classes='coco_stuff_171:zs_unseen')
test_evaluator = val_evaluator

train_cfg = dict(max_iters=80000, val_interval=8000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False),
]
default_hooks = dict(checkpoint=dict(interval=8000))
