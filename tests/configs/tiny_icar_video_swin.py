# The Kinetics-400 config path on a checkpoint in the iCAR authors' real layout
# (tests/real_layout.py): its 2D Swin inflated by mmaction, its image projector
# in the head, its text tower trained end to end (their recipe). The tests point
# the checkpoint fields and model_path at it.
_base_ = './tiny_video_swin.py'

model = dict(
    backbone=dict(arch=dict(depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]), window_size=(2, 4, 4)),
    cls_head=dict(
        classifier=dict(
            text_encoder=dict(
                _delete_=True, type='icar_mm.ICARTextEncoder', model_path=None, checkpoint=None, frozen=False
            ),
            projection=True,
            projector_checkpoint=None,
            templates='video28',
            enriched=False,
        )
    ),
)
