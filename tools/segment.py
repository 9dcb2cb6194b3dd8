"""Segment images into any classes, named at run time, with a trained text-generated segmentor.

    python tools/segment.py CONFIG CHECKPOINT IMAGE|FOLDER [...] \
        [--classes "sky,road,tree" | --vocabulary ade20k_150 | --vocabulary my_classes.txt
         | --class-weights refined.pth] [--score-thr 0.5] [--opacity 0.5]
        [--out-dir outputs/segment] [--device cpu] [--cfg-options k=v ...]

Runs icar_mm.apis (init_model / inference: mmseg's init_model and
inference_model) and writes ``OUT/vis/<image>.png``: the colour mask over the
image with class names (mmseg's ``SegLocalVisualizer``) and a legend of the
classes found; ``OUT/label_maps/<image>.png``: the predicted class index per
pixel (8-bit, 16-bit beyond 255 classes); ``OUT/segments.json``: the class
names and each image's classes by area, with their mean score. Pixels whose
class score (softmax) is below --score-thr are left unlabelled: 255 (65535
in 16-bit maps) in the label map, not drawn, not counted.
"""

import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import add_inference_args, init_model_from_args, list_images, progress, requested_vocabulary, write_json  # noqa: E402
from _drawing import add_legend  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_inference_args(
        parser,
        'images',
        example_vocabulary='ade20k_150',
        out_dir='outputs/segment',
        score_thr=0.0,
        score_help='pixels whose class score is below this stay unlabelled',
    )
    parser.add_argument('--opacity', type=float, default=0.5)
    return parser.parse_args()


def main():
    args = parse_args()
    images = list_images(args.inputs)  # unreadable images stop the tool before the model is built
    vocabulary = requested_vocabulary(args)
    from mmseg.visualization import SegLocalVisualizer

    from icar_mm.apis import class_names, inference

    model = init_model_from_args(args, vocabulary)
    classes, palette = class_names(model), model.dataset_meta['palette']
    dtype, unlabelled = (np.uint8, 255) if len(classes) < 255 else (np.uint16, 65535)
    visualizer = SegLocalVisualizer(alpha=args.opacity)
    visualizer.dataset_meta = dict(classes=classes, palette=palette)
    for sub in ('vis', 'label_maps'):
        os.makedirs(osp.join(args.out_dir, sub), exist_ok=True)

    summary = []
    for path in progress(images):
        sample = inference(model, path)
        labels = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
        scores = sample.seg_logits.data.float().softmax(0).max(0).values.cpu().numpy()
        labels[scores < args.score_thr] = unlabelled
        if args.score_thr > 0:  # the visualizer draws what pred_sem_seg holds
            sample.pred_sem_seg.data = sample.pred_sem_seg.data.new_tensor(labels)[None]
        name = osp.splitext(osp.basename(path))[0]
        cv2.imwrite(osp.join(args.out_dir, 'label_maps', f'{name}.png'), labels.astype(dtype))
        ids, areas = np.unique(labels, return_counts=True)
        found = [
            (classes[i], float(a) / labels.size, float(scores[labels == i].mean()))
            for i, a in sorted(zip(ids, areas), key=lambda x: -x[1])
            if i != unlabelled
        ]
        visualizer.add_datasample(name, cv2.imread(path)[..., ::-1], sample, draw_gt=False, with_labels=True)
        drawn = add_legend(visualizer.get_image(), [(n, palette[classes.index(n)]) for n, _, _ in found])
        cv2.imwrite(osp.join(args.out_dir, 'vis', f'{name}.png'), drawn[..., ::-1])
        summary.append(
            dict(image=path, classes=[dict(label=n, area=round(a, 4), score=round(s, 4)) for n, a, s in found])
        )
    write_json(osp.join(args.out_dir, 'segments.json'), dict(classes=list(classes), results=summary))
    for item in summary:
        print(f'{item["image"]}: ' + ', '.join(f'{c["label"]} {c["area"]:.0%}' for c in item['classes'][:5]))
    print(f'overlays in {osp.join(args.out_dir, "vis")}, label maps in {osp.join(args.out_dir, "label_maps")}')


if __name__ == '__main__':
    main()
