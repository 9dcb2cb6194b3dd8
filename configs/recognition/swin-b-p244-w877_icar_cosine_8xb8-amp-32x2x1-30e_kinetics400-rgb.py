# Kinetics-400 fine-tuning, the iCAR authors' recipe (their Video-Swin-Transformer
# LanguageHead): Video Swin-B (p244, w877) inflated from the iCAR 2D Swin-B by
# mmaction's own inflation; head: avg-pool, dropout 0.5, the iCAR image projector
# (visual_model.projector.weight), cosine against the text tower's class
# embeddings at fixed scale 1/0.05; plain class names, one random 'video28'
# template per class per step with the text tower trained end to end, the
# 28-template ensemble at test. 32x2x1 clips at 224, AdamW lr 3e-4 wd 0.05,
# backbone lr x0.1, 30 epochs cosine after 2.5 warm-up epochs (inherited),
# 4 clips x 3 crops at test. Enriched descriptions: classifier=dict(enriched=True).
# Weights are local files (nothing is downloaded): the iCAR checkpoint feeds the
# backbone (visual_model.backbone.*), the text encoder (sentence_model.*) and the
# projector; checkpoints/roberta-base/ holds roberta-base's config and tokenizer files.
_base_ = [
    'mmaction::recognition/swin/swin-base-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py',
    '../_base_/icar_runtime.py',
]

icar_checkpoint = 'checkpoints/icar_swin-b.pth'
text_encoder = dict(type='icar_mm.ICARTextEncoder', checkpoint=icar_checkpoint, frozen=False)

model = dict(
    backbone=dict(type='icar_mm.ICARSwin3D', pretrained=None, checkpoint=icar_checkpoint),
    cls_head=dict(
        type='icar_mm.TextCosineRecognitionHead',
        dropout_ratio=0.5,
        # vocabulary: none named, so the dataset's classes (VocabularyHook)
        classifier=dict(
            text_encoder=text_encoder, templates='video28', enriched=False, projector_checkpoint=icar_checkpoint
        ),
    ),
)

# mmaction's Decord pipelines, with PyAV / OpenCV fall-backs (icar_mm.VideoInit / VideoDecode)
train_pipeline = [
    dict(type='icar_mm.VideoInit'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='icar_mm.VideoDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='icar_mm.VideoInit'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1, test_mode=True),
    dict(type='icar_mm.VideoDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='icar_mm.VideoInit'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=4, test_mode=True),
    dict(type='icar_mm.VideoDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# Labels index the 400 shipped class names; corrupt videos are skipped and counted.
train_dataloader = dict(
    dataset=dict(type='icar_mm.OVVideoDataset', vocabulary='kinetics400', skip_corrupt=True, pipeline=train_pipeline)
)
val_dataloader = dict(
    dataset=dict(type='icar_mm.OVVideoDataset', vocabulary='kinetics400', skip_corrupt=True, pipeline=val_pipeline)
)
test_dataloader = dict(
    dataset=dict(type='icar_mm.OVVideoDataset', vocabulary='kinetics400', skip_corrupt=True, pipeline=test_pipeline)
)
val_evaluator = dict(_delete_=True, type='icar_mm.OVAccMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.05))
