# Zero-shot transfer of the Kinetics-400 model to UCF101 (split 1 test list):
# the classifier takes the 101 UCF101 class names from the dataset, nothing is
# trained.  python tools/test.py THIS_CONFIG work_dirs/k400/epoch_30.pth
_base_ = './swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py'

test_dataloader = dict(
    dataset=dict(
        vocabulary='ucf101',
        ann_file='data/ucf101/ucf101_val_split_1_videos.txt',
        data_prefix=dict(video='data/ucf101/videos'),
    )
)
