# Mask R-CNN, iCAR Swin-T, text-generated cosine box head, COCO 1x (closed vocabulary).
# Weights are local files (nothing is downloaded): the iCAR checkpoint feeds the
# backbone (visual_model.backbone.*) and the text encoder (sentence_model.*);
# checkpoints/roberta-base/ holds roberta-base's config.json and tokenizer files.
# The authors released no detection code; this follows their segmentation and
# action recipe: plain class names, one random template per class per step, the
# text tower trained end to end, fixed scale 1/0.05. Templates are ViLD's 14
# detection prompts. Enriched descriptions: classifier=dict(enriched=True).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', '../_base_/icar_runtime.py']

icar_checkpoint = 'checkpoints/icar_swin-t.pth'
text_encoder = dict(type='icar_mm.ICARTextEncoder', checkpoint=icar_checkpoint, frozen=False)

model = dict(
    backbone=dict(type='icar_mm.ICARSwin', checkpoint=icar_checkpoint, convert_weights=False, init_cfg=None),
    roi_head=dict(
        bbox_head=dict(
            type='icar_mm.TextCosineBBoxHead',
            reg_class_agnostic=True,
            # vocabulary: none named, so the dataset's metainfo['classes'] (VocabularyHook)
            classifier=dict(text_encoder=text_encoder, templates='vild14', enriched=False),
        ),
        # one mask per box, whatever its class: works for any vocabulary
        mask_head=dict(class_agnostic=True),
    ),
)
