# Zero-shot transfer of the Kinetics-400 model to the 220 Kinetics-600 classes
# that Kinetics-400 lacks (shipped vocabulary 'kinetics600_new'). mmaction's
# Kinetics-600 lists index the 600 classes of label_map_k600.txt (one name a
# line, shipped with the dataset tools): that file names the labels, clips of
# the 380 other classes are left out, and OVAccMetric's 'new_*' keys rank the new
# clips among the 220 new classes only (the usual protocol); top1 / top5 rank
# them among all 600.
_base_ = './swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py'

test_dataloader = dict(
    dataset=dict(
        vocabulary='data/kinetics600/label_map_k600.txt',
        keep_classes='kinetics600_new',
        ann_file='data/kinetics600/kinetics600_val_list_videos.txt',
        data_prefix=dict(video='data/kinetics600/videos_val'),
    )
)
test_evaluator = dict(splits=dict(new='kinetics600_new'))
