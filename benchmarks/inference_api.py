"""The inference API: what a vocabulary switch costs, and what
``icar_mm.init_model`` / ``inference`` add over the host's own inferencer.

    python benchmarks/inference_api.py [--classes 1203] [--templates 80]
                                       [--text-model ViT-B-32] [--repeats 5]

1. Vocabulary switch on a frozen text encoder: the first use of a vocabulary
   (every prompt through the encoder) against switching back to one used
   before (the classifier's embedding cache). The names are the first
   ``--classes`` WordNet noun lemmas of the shipped gloss table (LVIS size by
   default).
2. Per-image detection with one model (the tiny OV Mask R-CNN test config,
   random init, 128 px synthetic scenes): ``inference(model, image)`` against
   mmdet's ``DetInferencer`` on the same model, timed in alternation.
"""

import argparse
import gzip
import os
import os.path as osp
import sys
import tempfile
import time

import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from common import add_json_option, median_time, paired_medians, result, write_results  # noqa: E402


def wordnet_names(n):
    """The first ``n`` distinct noun lemmas of the shipped WordNet gloss table."""
    names, seen = [], set()
    with gzip.open(osp.join(REPO, 'icar_mm', 'vocab', 'wordnet_glosses.tsv.gz'), 'rt') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) >= 2 and parts[1] == 'n' and not line.startswith('#') and parts[0] not in seen:
                seen.add(parts[0])
                names.append(parts[0])
                if len(names) == n:
                    break
    return names


def vocabulary_switch(args):
    from icar_mm import TextCosineClassifier
    from icar_mm.text import get_templates

    torch.manual_seed(0)
    clf = TextCosineClassifier(
        text_encoder=dict(type='OpenCLIPTextEncoder', model_name=args.text_model),
        templates=list(get_templates('imagenet80')[: args.templates]),
        enriched=False,
        in_channels=64,
    ).eval()
    names = wordnet_names(args.classes)
    features = torch.randn(8, 64)
    first, second = names, names[::-1]  # two vocabularies of the same size

    def use(vocabulary):
        clf.set_vocabulary(vocabulary)
        with torch.no_grad():
            clf(features)

    start = time.perf_counter()
    use(first)
    uncached = time.perf_counter() - start
    use(second)
    cached = median_time(lambda: (use(first), use(second)), args.repeats, warmup=1) / 2
    prompts = len(names) * len(clf.test_templates)
    print(
        f'vocabulary switch, {len(names)} classes x {len(clf.test_templates)} templates '
        f'({prompts} prompts, {args.text_model}, frozen):'
    )
    print(f'  first use (encoder runs): {uncached * 1e3:10.1f} ms')
    print(f'  switch back (cached):     {cached * 1e3:10.3f} ms   ratio {cached / uncached:.2e}')
    return [
        result(
            f'vocabulary switch, {len(names)} x {len(clf.test_templates)}: cached vs first use',
            uncached * 1e3,
            cached * 1e3,
            'ms',
        )
    ]


def per_image(args):
    from mmdet.apis import DetInferencer

    from icar_mm import inference, init_model
    from icar_mm.datasets.synthetic import write_detection_set

    tmp = tempfile.mkdtemp()
    write_detection_set(tmp, 'val', num_images=2, seed=1)
    image = osp.join(tmp, 'images', 'val', sorted(os.listdir(osp.join(tmp, 'images', 'val')))[0])
    torch.manual_seed(0)
    model = init_model(osp.join(REPO, 'tests', 'configs', 'tiny_ov_mask_rcnn.py'), vocabulary='synthetic', device='cpu')
    host = DetInferencer(model=model.cfg, weights=None, device='cpu', show_progress=False, palette='random')
    host.model = model  # the same weights and vocabulary: only the calling path differs
    host_s, ours_s, ratio = paired_medians(
        lambda: host(image, return_datasamples=True), lambda: inference(model, image), args.repeats
    )
    print(
        f'per-image detection (tiny OV Mask R-CNN, 128 px, CPU): DetInferencer {host_s * 1e3:.1f} ms, '
        f'inference() {ours_s * 1e3:.1f} ms, ratio {ratio:.3f}'
    )
    return [result('per-image detection: inference() vs DetInferencer', host_s * 1e3, ours_s * 1e3, 'ms', ratio)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--classes', type=int, default=1203)
    parser.add_argument('--templates', type=int, default=80, help="the first N of CLIP's 80 ImageNet templates")
    parser.add_argument('--text-model', default='ViT-B-32')
    parser.add_argument('--repeats', type=int, default=5)
    add_json_option(parser)
    args = parser.parse_args()
    rows = vocabulary_switch(args) + per_image(args)
    write_results(args.json, rows)


if __name__ == '__main__':
    main()
