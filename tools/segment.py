"""Segment images into any classes, named at run time, with a trained text-generated segmentor.

    python tools/segment.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        --classes "sky,road,tree" | --vocabulary ade20k_150 | --vocabulary my_classes.txt \
        [--out-dir outputs/segment] [--opacity 0.5] [--device cpu]

Writes ``OUT/vis/<image>.png``: the colour mask over the image with class names
(mmseg's ``SegLocalVisualizer``) and a legend of the classes found;
``OUT/label_maps/<image>.png``: the predicted class index per pixel (8-bit,
16-bit beyond 256 classes); ``OUT/segments.json``: the class names and each
image's classes by area.
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from icar_mm.apis import add_image_tool_args, list_images, requested_vocabulary, set_vocabulary  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_image_tool_args(parser, example_vocabulary='ade20k_150', out_dir='outputs/segment')
    parser.add_argument('--opacity', type=float, default=0.5)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def add_legend(image: np.ndarray, entries) -> np.ndarray:
    """Append a legend panel (colour swatch + class name per entry) to an RGB image."""
    row = max(14, image.shape[0] // 16)
    font_scale = row / 30
    width = max([cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)[0][0]
                 for name, _ in entries] + [0]) + row + 12
    panel = np.full((max(image.shape[0], row * len(entries) + 8), width, 3), 255, np.uint8)
    for i, (name, colour) in enumerate(entries):
        y = 4 + i * row
        cv2.rectangle(panel, (4, y + 2), (row - 2, y + row - 2), tuple(int(c) for c in colour), -1)
        cv2.putText(panel, name, (row + 4, y + int(row * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    canvas = np.full((panel.shape[0], image.shape[1] + width, 3), 255, np.uint8)
    canvas[:image.shape[0], :image.shape[1]] = image
    canvas[:, image.shape[1]:] = panel
    return canvas


def main():
    args = parse_args()
    images = list_images(args.images)  # unreadable images stop the tool before the model is built
    from mmseg.apis import inference_model, init_model
    from mmseg.visualization import SegLocalVisualizer

    model = init_model(args.config, args.checkpoint, device=args.device)
    vocabulary = requested_vocabulary(args)
    if vocabulary:
        set_vocabulary(model, vocabulary)
    classes, palette = model.dataset_meta['classes'], model.dataset_meta['palette']
    visualizer = SegLocalVisualizer(alpha=args.opacity)
    visualizer.dataset_meta = dict(classes=classes, palette=palette)
    for sub in ('vis', 'label_maps'):
        os.makedirs(osp.join(args.out_dir, sub), exist_ok=True)

    summary = []
    for path in images:
        result = inference_model(model, path)
        labels = result.pred_sem_seg.data[0].cpu().numpy()
        name = osp.splitext(osp.basename(path))[0]
        cv2.imwrite(osp.join(args.out_dir, 'label_maps', f'{name}.png'),
                    labels.astype(np.uint8 if len(classes) <= 256 else np.uint16))
        ids, areas = np.unique(labels, return_counts=True)
        found = [(classes[i], float(a) / labels.size) for i, a in sorted(zip(ids, areas), key=lambda x: -x[1])]
        image = cv2.imread(path)[..., ::-1]
        visualizer.add_datasample(name, image, result, draw_gt=False, with_labels=True)
        drawn = add_legend(visualizer.get_image(), [(n, palette[classes.index(n)]) for n, _ in found])
        cv2.imwrite(osp.join(args.out_dir, 'vis', f'{name}.png'), drawn[..., ::-1])
        summary.append(dict(image=path, classes=[dict(label=n, area=round(a, 4)) for n, a in found]))
        print(f'{path}: ' + ', '.join(f'{n} {a:.0%}' for n, a in found[:5]))
    with open(osp.join(args.out_dir, 'segments.json'), 'w') as f:
        json.dump(dict(classes=list(classes), results=summary), f, indent=1)
    print(f'overlays in {osp.join(args.out_dir, "vis")}, label maps in {osp.join(args.out_dir, "label_maps")}')


if __name__ == '__main__':
    main()
