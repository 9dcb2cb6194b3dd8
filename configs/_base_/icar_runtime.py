# The hooks every icar_mm training config adds to its host's runtime
# (inherit next to the host bases: `_base_ = [..., '../_base_/icar_runtime.py']`).
custom_hooks = [
    dict(type='icar_mm.VocabularyHook'),  # classes from the dataset's metainfo
    dict(type='icar_mm.FiniteLossHook'),  # stop at a NaN / inf loss, naming the last good checkpoint
    dict(type='icar_mm.ExactResumeHook'),  # random states in checkpoints: --resume continues exactly
    dict(type='icar_mm.DistributedCheckHook'),  # several processes: rank-averaged losses, same class weights
]
