# Base-to-novel on the synthetic clips, as the Kinetics-400 base-to-novel config
# does it: train on base-class clips with novel logits masked, test on all
# classes with base / novel accuracy reported separately.
_base_ = './tiny_video_swin.py'

model = dict(cls_head=dict(train_classes='synthetic:base'))
train_dataloader = dict(dataset=dict(keep_classes='synthetic:base'))
val_evaluator = dict(splits=dict(base='synthetic:base', novel='synthetic:novel'))
test_evaluator = val_evaluator
