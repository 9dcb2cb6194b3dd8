# UPerNet + iCAR Swin-T, text-generated cosine heads, ADE20K-150, 160k iterations,
# 512x512 crops (ignore index 255, no background class).
_base_ = [
    '../_base_/models/upernet_icar-swin-t_cosine.py',
    '../_base_/icar_runtime.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/adamw-swin_160k.py',
]
crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
