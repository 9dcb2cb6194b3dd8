# Ablation: shallow fusion. Both data and both losses, but the labels are scored by
# a plain linear classifier beside the contrastive head, so only the image encoder
# is shared; the text encoder learns from captions alone.
_base_ = './icar-pretrain_swin-tiny_synthetic.py'

# downstream prompts are plain names: its text encoder learns from captions alone
model = dict(label_head='linear', classifier=dict(enriched=False))
