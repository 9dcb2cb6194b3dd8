"""Segment images with an exported icar_mm segmentor in onnxruntime alone (no
torch, no OpenMMLab): the classes baked into the export, or any vocabulary
whose class embeddings were written for a --vocabulary-input export.

    python tools/deployment/onnx_infer.py seg.onnx IMAGE [...] [--class-embeddings vocab.npz]
        [--opacity 0.5] [--out-dir outputs/onnx]

Reads ``seg.onnx.json`` (written by export_onnx.py) for the input size and the
classes; each image is resized to that size, segmented, and drawn at its own
size (enlarged below 256 px): ``OUT/vis/<image>.png``, the mask over the
image with a legend of the classes found by area, and ``OUT/segments.json``.
"""

import argparse
import json
import os
import os.path as osp

import cv2
import numpy as np


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='an ONNX file written by tools/deployment/export_onnx.py')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--class-embeddings', metavar='FILE.npz', help='the vocabulary of a --vocabulary-input export')
    parser.add_argument('--opacity', type=float, default=0.5)
    parser.add_argument('--out-dir', default='outputs/onnx')
    return parser.parse_args()


def load(args):
    """(session, export info, feeds beside the image, class names)."""
    import onnxruntime

    meta = args.model + '.json'
    if not osp.isfile(meta):
        raise SystemExit(f'{meta} not found: export the model with tools/deployment/export_onnx.py, which writes it.')
    info = json.load(open(meta))
    if info['task'] != 'segmentation':
        raise SystemExit(f'{args.model} is a {info["task"]} model; this example runs segmentation exports.')
    feeds, classes = {}, info.get('classes')
    if info['vocabulary'] == 'input':
        if not args.class_embeddings:
            raise SystemExit(
                f'{args.model} takes its vocabulary as an input: give --class-embeddings FILE.npz '
                '(tools/deployment/export_onnx.py CONFIG CHECKPOINT --class-embeddings FILE.npz --classes "a,b").'
            )
        vocab = np.load(args.class_embeddings)
        feeds['class_embeddings'], classes = vocab['embeddings'].astype(np.float32), [str(c) for c in vocab['classes']]
        if feeds['class_embeddings'].shape[1] != info['embed_dim']:
            raise SystemExit(
                f'{args.class_embeddings} holds {feeds["class_embeddings"].shape[1]}-d class embeddings; '
                f'{args.model} takes {info["embed_dim"]}-d ones: write them with the same model.'
            )
    elif args.class_embeddings:
        raise SystemExit(
            f'{args.model} has its vocabulary baked in; --class-embeddings needs a --vocabulary-input export.'
        )
    return onnxruntime.InferenceSession(args.model, providers=['CPUExecutionProvider']), info, feeds, classes


def draw(bgr, labels, classes, opacity):
    """The label map over the image, a colour per class, and a legend of the classes found by area
    (small images are drawn enlarged, so that the legend fits)."""
    palette = np.random.RandomState(len(classes)).randint(0, 256, (len(classes), 3)).astype(np.uint8)
    canvas = cv2.addWeighted(bgr, 1 - opacity, palette[labels], opacity, 0)
    scale = max(1, int(np.ceil(256 / min(canvas.shape[:2]))))
    canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    found = [(int(c), int(n)) for c, n in zip(*np.unique(labels, return_counts=True))]
    found.sort(key=lambda item: -item[1])
    for row, (c, _) in enumerate(found):
        y = 18 + 20 * row
        cv2.rectangle(canvas, (6, y - 12), (20, y + 2), palette[c].tolist(), -1)
        cv2.putText(canvas, classes[c], (26, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas, [(classes[c], n / labels.size) for c, n in found]


def main():
    args = parse_args()
    session, info, feeds, classes = load(args)
    _, _, h, w = info['inputs']['image']
    os.makedirs(osp.join(args.out_dir, 'vis'), exist_ok=True)
    results = {}
    for path in args.images:
        bgr = cv2.imread(path)
        if bgr is None:
            raise SystemExit(f'{path}: not an image OpenCV can read.')
        rgb = cv2.resize(bgr, (w, h))[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]
        _, labels = session.run(None, {'image': np.ascontiguousarray(rgb), **feeds})
        labels = cv2.resize(labels[0].astype(np.int32), bgr.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        canvas, found = draw(bgr, labels, classes, args.opacity)
        out = osp.join(args.out_dir, 'vis', osp.splitext(osp.basename(path))[0] + '.png')
        cv2.imwrite(out, canvas)
        results[path] = [dict(name=name, area=round(area, 4)) for name, area in found]
        print(f'{path}: ' + ', '.join(f'{name} {area:.0%}' for name, area in found) + f' -> {out}')
    with open(osp.join(args.out_dir, 'segments.json'), 'w') as f:
        json.dump(dict(model=args.model, classes=classes, images=results), f, indent=1)


if __name__ == '__main__':
    main()
