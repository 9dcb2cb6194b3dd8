"""The text-generated cosine recognition head vs mmaction2's I3DHead on the
same video Swin (same backbone weights), in the same process, on CPU.

    python benchmarks/recognition_head.py [--frames 8] [--size 112] [--batch 2] [--repeats 10]
                                          [--embed-dims 48] [--text-model ViT-B-32]

Prints median times of inference (vocabulary cached) and of a training step
for the whole recognizer and of the head alone, timed in alternation, the
median ratio cosine / linear for each, and peak memory (process RSS growth
while each model runs; the linear model runs first, as the peak only grows).
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from common import add_json_option, compare_models  # noqa: E402


def build(cosine: bool, args):
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    from mmengine.registry import DefaultScope

    register_all_modules()
    dims = args.embed_dims
    head = dict(type='I3DHead', num_classes=400, in_channels=8 * dims, dropout_ratio=0.5, average_clips='prob')
    if cosine:
        head = dict(
            type='icar_mm.TextCosineRecognitionHead',
            in_channels=8 * dims,
            dropout_ratio=0.5,
            average_clips='prob',
            classifier=dict(
                text_encoder=dict(type='OpenCLIPTextEncoder', model_name=args.text_model),
                vocabulary='kinetics400',
                templates='video_single',
            ),
        )
    cfg = dict(
        type='Recognizer3D',
        backbone=dict(
            type='icar_mm.ICARSwin3D',
            arch=dict(embed_dims=dims, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16]),
            window_size=(4, 7, 7),
            drop_path_rate=0.0,
        ),
        cls_head=head,
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            format_shape='NCTHW',
        ),
    )
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg)
    torch.manual_seed(0)  # the text tower built above drew from the stream: same weights elsewhere
    model.init_weights()
    return model


def batch(model, args):
    from mmaction.structures import ActionDataSample

    torch.manual_seed(1)
    samples = [ActionDataSample().set_gt_labels(torch.randint(400, (1,))) for _ in range(args.batch)]
    inputs = [torch.rand(1, 3, args.frames, args.size, args.size) * 255 for _ in range(args.batch)]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)


def steps(model, args):
    """Inference, train-step and head-only callables on one fixed batch."""
    data = batch(model, args)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'], test_mode=True)[0]

    def infer():
        model.eval()
        with torch.no_grad():
            model.predict(data['inputs'], data['data_samples'])

    def head_only():
        model.eval()
        with torch.no_grad():
            model.cls_head(feats)

    def train_step():
        model.train()
        losses = model.loss(data['inputs'], data['data_samples'])
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return {'inference': infer, 'train step': train_step, 'head alone, infer': head_only}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--size', type=int, default=112)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--embed-dims', type=int, default=48)
    parser.add_argument('--text-model', default='ViT-B-32')
    add_json_option(parser)
    args = parser.parse_args()
    print(
        f'Video Swin (dims {args.embed_dims}, depths 2-2-2-2), {args.batch} x {args.frames} frames x '
        f'{args.size}px, 400 Kinetics classes, text tower {args.text_model} (frozen, cached), '
        'one template (cached; the forward cost does not depend on the template count), '
        f'threads={torch.get_num_threads()}'
    )
    compare_models(
        'I3DHead', 'TextCosineRecognitionHead', lambda cosine: steps(build(cosine, args), args), args.repeats, args.json
    )


if __name__ == '__main__':
    main()
