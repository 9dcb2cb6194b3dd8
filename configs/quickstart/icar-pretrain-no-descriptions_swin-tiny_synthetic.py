# Ablation: iCAR's deep fusion without descriptions. The label loss's class weights
# come from the shared text encoder, from the plain class names ("red circle").
_base_ = './icar-pretrain_swin-tiny_synthetic.py'

model = dict(classifier=dict(enriched=False))
