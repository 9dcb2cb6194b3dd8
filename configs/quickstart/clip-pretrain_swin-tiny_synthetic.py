# Ablation: image-text alignment only (CLIP). The same encoders, trained with the
# symmetric contrastive loss on captioned scenes alone; no class labels.
_base_ = './icar-pretrain_swin-tiny_synthetic.py'

# downstream prompts are plain names: its text encoder learns from captions alone
model = dict(label_loss_weight=0.0, classifier=dict(enriched=False))
train_dataloader = dict(dataset=dict(num_labelled=0, num_captioned=8192))
