# Cross-vocabulary evaluation: the COCO-Stuff model (zs156 config) tested on
# Pascal Context-59. Only the vocabulary changes: VocabularyHook hands the classifier
# Pascal Context's 59 class names, the text encoder embeds them, nothing is retrained.
#   python tools/test.py THIS_CONFIG work_dirs/<coco-stuff run>/iter_80000.pth
_base_ = [
    '../_base_/models/upernet_icar-swin-t_cosine.py',
    '../_base_/icar_runtime.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
]
model = dict(
    data_preprocessor=dict(size=(512, 512)), test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
)
# test only: no training loop (mmengine builds none of train_dataloader / train_cfg / optim_wrapper)
train_dataloader = None
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')
test_evaluator = dict(type='icar_mm.OVIoUMetric', classwise=True)
