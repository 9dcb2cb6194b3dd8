# Open-vocabulary COCO (48 base / 17 novel): Mask R-CNN with iCAR Swin-T and the
# text-generated cosine head, trained on base-class boxes only, evaluated on all
# 65 classes with mmdet's OVCocoMetric (base / novel AP and AP50); the best
# checkpoint is kept by novel AP50.
# Annotation files: python tools/dataset_converters/ov_coco.py data/coco/annotations
_base_ = './mask-rcnn_icar-swin-t_fpn_cosine_1x_coco.py'

from icar_mm.text.vocabulary import load_vocabulary  # noqa: E402

base_classes = load_vocabulary('coco:ov_base').names
novel_classes = load_vocabulary('coco:ov_novel').names
# Train and test share the 65-class vocabulary (same label indices); novel
# classes get zero weight in the training loss (train_classes).
metainfo = dict(classes=base_classes + novel_classes, base_classes=base_classes, novel_classes=novel_classes)

data_root = 'data/coco/'
# Frozen text tower, unlike the closed-vocabulary recipe: trained on 48 base names
# alone it would move away from the novel names it has to score (ViLD, Detic and
# BARON keep it frozen for the same reason).
model = dict(roi_head=dict(bbox_head=dict(train_classes=base_classes, classifier=dict(text_encoder=dict(frozen=True)))))

train_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_train2017_ov-base.json')
)
val_dataloader = dict(
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val2017_ov-all.json')
)
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='OVCocoMetric',
    metric='bbox',
    format_only=False,
    ann_file=data_root + 'annotations/instances_val2017_ov-all.json',
)
test_evaluator = val_evaluator

default_hooks = dict(checkpoint=dict(save_best='coco/novel_ap50', rule='greater'))
