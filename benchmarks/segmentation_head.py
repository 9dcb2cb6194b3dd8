"""The text-generated cosine decode heads vs mmseg's UPerHead / FCNHead in the
same UPerNet Swin-T (same weights elsewhere), in the same process.

    python benchmarks/segmentation_head.py [--size 256] [--repeats 10] [--text-model ViT-B-32]

Prints median times of inference (vocabulary cached) and of a training step
(decode + auxiliary head), measured in alternation so both models see the same
machine state, the ratio cosine / mmseg for each, and peak memory.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from common import add_json_option, compare_models  # noqa: E402


def build(cosine: bool, args):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.utils import get_installed_path
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(
        osp.join(
            get_installed_path('mmseg'),
            '.mim',
            'configs',
            'swin',
            'swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
        )
    )
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = (args.size, args.size)
    if cosine:
        cfg.model.type = 'icar_mm.TextEncoderDecoder'
        classifier = dict(
            text_encoder=dict(type='icar_mm.OpenCLIPTextEncoder', model_name=args.text_model),
            vocabulary='ade20k_150',
            templates='single',
        )
        cfg.model.decode_head.type = 'icar_mm.TextCosineUPerHead'
        cfg.model.decode_head.classifier = classifier
        cfg.model.auxiliary_head.type = 'icar_mm.TextCosineFCNHead'
        cfg.model.auxiliary_head.classifier = dict(classifier, text_encoder=None)
        del cfg.model.auxiliary_head.classifier['text_encoder']  # shares the decode head's
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    torch.manual_seed(0)  # the text tower built above drew from the stream: same weights elsewhere
    model.init_weights()
    return model


def batch(model, args):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    torch.manual_seed(1)
    s = args.size
    samples = [
        SegDataSample(
            metainfo=dict(img_shape=(s, s), ori_shape=(s, s), pad_shape=(s, s)),
            gt_sem_seg=PixelData(data=torch.randint(150, (1, s, s))),
        )
        for _ in range(args.batch)
    ]
    data = dict(inputs=[torch.rand(3, s, s) * 255 for _ in range(args.batch)], data_samples=samples)
    return model.data_preprocessor(data, training=True)


def steps(model, args):
    data = batch(model, args)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def infer():
        model.eval()
        with torch.no_grad():
            model.predict(data['inputs'], data['data_samples'])

    def train_step():
        model.train()
        losses = model.loss(data['inputs'], data['data_samples'])
        loss = sum(v for k, v in losses.items() if k.startswith(('decode.loss', 'aux.loss')))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return {'inference': infer, 'train step': train_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--batch', type=int, default=2, help='>= 2: the pooling branch has BatchNorm on 1x1 maps')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--text-model', default='ViT-B-32')
    add_json_option(parser)
    args = parser.parse_args()
    print(
        f'UPerNet Swin-T, {args.batch} x {args.size}px, 150 ADE20K classes, text tower '
        f'{args.text_model} (frozen, cached), threads={torch.get_num_threads()}'
    )
    compare_models(
        'UPerHead+FCNHead', 'TextCosine heads', lambda cosine: steps(build(cosine, args), args), args.repeats, args.json
    )


if __name__ == '__main__':
    main()
