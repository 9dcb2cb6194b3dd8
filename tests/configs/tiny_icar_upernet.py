# The ADE20K UPerNet config path on a checkpoint in the iCAR authors' real layout
# (tests/real_layout.py): the iCAR text tower trained end to end (their recipe)
# and the 2D Swin shape of that file. The tests point the checkpoint fields and
# model_path at it.
_base_ = './tiny_upernet.py'

model = dict(
    backbone=dict(depths=[2, 2, 2, 2], window_size=4),
    decode_head=dict(
        classifier=dict(
            text_encoder=dict(
                _delete_=True, type='icar_mm.ICARTextEncoder', model_path=None, checkpoint=None, frozen=False
            )
        )
    ),
)
