"""The text-generated cosine box head vs mmdet's Shared2FCBBoxHead in the same
Faster R-CNN (same weights elsewhere), in the same process.

    python benchmarks/detection_head.py [--size 512] [--repeats 10] [--text-model ViT-B-32]

Prints median times of inference (vocabulary cached) and of a training step,
both models timed in alternation, the median ratio cosine / linear for each,
and peak memory.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from common import add_json_option, compare_models  # noqa: E402


def build(cosine: bool, args):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    register_all_modules()
    from mmengine.utils import get_installed_path

    cfg = Config.fromfile(
        osp.join(get_installed_path('mmdet'), '.mim', 'configs', 'faster_rcnn', 'faster-rcnn_r50_fpn_1x_coco.py')
    )
    cfg.model.backbone.init_cfg = None
    # At random init the linear head's near-uniform softmax keeps no box and the
    # cosine head's scaled logits keep some: equal post-processing isolates the head.
    cfg.model.test_cfg.rcnn.score_thr = args.score_thr
    if cosine:
        head = cfg.model.roi_head.bbox_head
        head.type = 'icar_mm.TextCosineBBoxHead'
        head.reg_class_agnostic = True
        head.classifier = dict(
            text_encoder=dict(type='OpenCLIPTextEncoder', model_name=args.text_model),
            vocabulary='coco',
            templates='vild14',
        )
    else:
        cfg.model.roi_head.bbox_head.reg_class_agnostic = True  # same regression output
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    torch.manual_seed(0)  # the text tower built above drew from the stream: same weights elsewhere
    model.init_weights()
    return model


def batch(model, args):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(1)
    s = args.size
    samples = []
    for _ in range(args.batch):
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(s, s), ori_shape=(s, s), scale_factor=(1.0, 1.0), batch_input_shape=(s, s), pad_shape=(s, s)
            )
        )
        xy = torch.rand(8, 2) * s * 0.6
        wh = torch.rand(8, 2) * s * 0.3 + 16
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1), labels=torch.randint(80, (8,)))
        samples.append(sample)
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
        loss = sum(v.sum() for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor)) + sum(
            sum(x) for k, x in losses.items() if 'loss' in k and isinstance(x, list)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return {'inference': infer, 'train step': train_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--text-model', default='ViT-B-32')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=1.01,
        help='box score threshold of both models (default: above 1, no box kept by either)',
    )
    add_json_option(parser)
    args = parser.parse_args()
    print(
        f'Faster R-CNN R50-FPN, {args.batch} x {args.size}px, 80 COCO classes, '
        f'text tower {args.text_model} (frozen, cached), score_thr {args.score_thr}, '
        f'threads={torch.get_num_threads()}'
    )
    compare_models(
        'Shared2FCBBoxHead',
        'TextCosineBBoxHead',
        lambda cosine: steps(build(cosine, args), args),
        args.repeats,
        args.json,
    )


if __name__ == '__main__':
    main()
