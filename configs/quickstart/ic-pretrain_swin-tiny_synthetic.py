# Ablation: image classification only. The same tiny Swin, trained on single-object
# images of the 12 base classes with a plain linear classifier; no image-text data,
# so the exported text tower and projector stay as initialised.
_base_ = './icar-pretrain_swin-tiny_synthetic.py'

# downstream prompts are plain names: its text encoder never learns the descriptions
model = dict(label_head='linear', text_loss_weight=0.0, classifier=dict(enriched=False))
train_dataloader = dict(dataset=dict(num_labelled=8192, num_captioned=0))
