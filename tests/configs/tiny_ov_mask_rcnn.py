# The quickstart / OV-COCO detector config path in CPU seconds: random init, one epoch.
_base_ = '../../configs/quickstart/ov-mask-rcnn_icar-swin-tiny_synthetic.py'

model = dict(
    backbone=dict(checkpoint=None),
    roi_head=dict(bbox_head=dict(classifier=dict(text_encoder=dict(model_name='tiny-random-clip', checkpoint=None)))),
)
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
default_hooks = dict(logger=dict(interval=1))
