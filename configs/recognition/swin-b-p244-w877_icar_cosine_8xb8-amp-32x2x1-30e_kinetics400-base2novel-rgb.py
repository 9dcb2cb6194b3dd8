# Base-to-novel Kinetics-400: train on the 200 'base' classes, test on the 200
# 'novel' ones (split shipped in icar_mm/vocab/kinetics400.json: classes in label
# order alternate base / novel). Train and test share the 400-class vocabulary
# (same label indices); training keeps base clips only and masks novel logits out
# of the loss (train_classes). OVAccMetric reports novel_top1 / novel_top5 /
# novel_mean1 (novel clips ranked among novel classes), the same for base, their
# harmonic mean hm_top1, and top1 / top5 / mean1 over all 400 classes.
_base_ = './swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py'

model = dict(cls_head=dict(train_classes='kinetics400:base'))
train_dataloader = dict(dataset=dict(keep_classes='kinetics400:base'))
val_evaluator = dict(splits=dict(base='kinetics400:base', novel='kinetics400:novel'))
test_evaluator = val_evaluator
