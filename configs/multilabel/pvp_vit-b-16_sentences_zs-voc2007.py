# Zero-shot multi-label VOC 2007 (20 classes, difficult-only labels ignored):
# prompts learned from the shipped VOC-20 sentences.
_base_ = './pvp_vit-b-16_sentences_zs-coco.py'

from icar_mm.multilabel.sentences import VOC_CLASSES  # noqa: E402

model = dict(classifier=dict(vocabulary=list(VOC_CLASSES)))
train_dataloader = dict(dataset=dict(ann_file='voc20', vocabulary=list(VOC_CLASSES)))
train_cfg = dict(max_iters=1000, val_interval=1000)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=1000, eta_min=1e-5)]

data_root = 'data/VOCdevkit/VOC2007/'
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='icar_mm.VOCMultiLabelDataset',
        data_root=data_root,
        ann_file='ImageSets/Main/test.txt',
        vocabulary=list(VOC_CLASSES),
        pipeline={{_base_.test_pipeline}},
    )
)
test_dataloader = val_dataloader
