# The zero-shot segmentation path (as the VOC 15/5 config) on the tiny UPerNet:
# background labelled and scored by a learned embedding in its place, novel
# colour-shape classes left out of training, mIoU seen / unseen / hIoU.
_base_ = './tiny_upernet.py'

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402

metainfo = dict(classes=('background',) + ALL_CLASSES)
head = dict(train_classes='synthetic:base', classifier=dict(background='learned', background_class='background'))
model = dict(decode_head=head, auxiliary_head=head)
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
val_evaluator = dict(type='icar_mm.OVIoUMetric', unseen_classes='synthetic:novel')
test_evaluator = val_evaluator
