"""Detect or segment images with an exported icar_mm detector or segmentor in
onnxruntime alone (no torch, no OpenMMLab): the classes baked into the export,
or, for a --vocabulary-input export, any vocabulary: encoded by the text tower
exported with it (onnx_text.py), or class embeddings written beforehand.

    python tools/deployment/onnx_infer.py model.onnx IMAGE [...]
        [--classes "zebra,hot air balloon" | --vocabulary FILE_OR_NAME | --class-embeddings vocab.npz]
        [--score-thr 0.3] [--opacity 0.5] [--out-dir outputs/onnx]

Reads ``model.onnx.json`` (written by export_onnx.py) for the task, the input
size and the classes; each image is resized to that size, run, and drawn at
its own size (enlarged below 256 px) in ``OUT/vis/<image>.png``: boxes, names,
scores and masks above ``--score-thr`` (``OUT/detections.json``), or the label
map with a legend of the classes found by area (``OUT/segments.json``).
"""

import argparse
import json
import os
import os.path as osp

import cv2
import numpy as np
from onnx_text import vocabulary_embeddings


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='an ONNX file written by tools/deployment/export_onnx.py')
    parser.add_argument('images', nargs='+')
    vocabulary = parser.add_mutually_exclusive_group()
    vocabulary.add_argument('--classes', help='comma-separated class names, e.g. "zebra,hot air balloon"')
    vocabulary.add_argument('--vocabulary', help='a shipped vocabulary name (e.g. coco) or a .txt/.json file')
    vocabulary.add_argument(
        '--class-embeddings', metavar='FILE.npz', help='written by export_onnx.py --class-embeddings'
    )
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection: the lowest score drawn')
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
    if info['task'] not in ('detection', 'segmentation'):
        raise SystemExit(f'{args.model} is a {info["task"]} model; this example runs detection and segmentation ones.')
    feeds, classes = {}, info.get('classes')
    asked = [c.strip() for c in args.classes.split(',') if c.strip()] if args.classes else args.vocabulary
    if info['vocabulary'] == 'input':
        if asked:
            classes, embeddings = vocabulary_embeddings(args.model, asked)
        elif args.class_embeddings:
            vocab = np.load(args.class_embeddings)
            embeddings, classes = vocab['embeddings'].astype(np.float32), [str(c) for c in vocab['classes']]
            if embeddings.shape[1] != info['embed_dim']:
                raise SystemExit(
                    f'{args.class_embeddings} holds {embeddings.shape[1]}-d class embeddings; '
                    f'{args.model} takes {info["embed_dim"]}-d ones: write them with the same model.'
                )
        else:
            raise SystemExit(
                f'{args.model} takes its vocabulary as an input: give --classes "a,b", --vocabulary NAME_OR_FILE '
                'or --class-embeddings FILE.npz (tools/deployment/export_onnx.py CONFIG CHECKPOINT '
                '--class-embeddings FILE.npz --classes "a,b").'
            )
        feeds['class_embeddings'] = embeddings
    elif asked or args.class_embeddings:
        raise SystemExit(
            f'{args.model} has its vocabulary baked in ({len(classes)} classes); another vocabulary needs a '
            '--vocabulary-input export.'
        )
    return onnxruntime.InferenceSession(args.model, providers=['CPUExecutionProvider']), info, feeds, classes


def palette_of(classes):
    return np.random.RandomState(len(classes)).randint(0, 256, (len(classes), 3)).astype(np.uint8)


def enlarged(canvas):
    """Small images drawn larger, so that names and legends are legible."""
    scale = max(1, int(np.ceil(256 / min(canvas.shape[:2]))))
    return cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST), scale


def paste(mask, box, shape):
    """A box's mask-head probabilities, resized into the box -> a full-image boolean mask."""
    full = np.zeros(shape, bool)
    x1, y1 = (max(int(np.floor(v)), 0) for v in box[:2])
    x2, y2 = min(int(np.ceil(box[2])), shape[1]), min(int(np.ceil(box[3])), shape[0])
    if x2 > x1 and y2 > y1 and mask.size:
        full[y1:y2, x1:x2] = cv2.resize(mask, (x2 - x1, y2 - y1)) > 0.5
    return full


def draw_detections(bgr, found, classes, opacity):
    """Masks over the image, then each box with its name and score."""
    palette, canvas = palette_of(classes), bgr.copy()
    for det in found:
        if det['mask'] is not None:
            colour = palette[det['label']]
            canvas[det['mask']] = (canvas[det['mask']] * (1 - opacity) + colour * opacity).astype(np.uint8)
    canvas, scale = enlarged(canvas)
    for det in found:
        colour = palette[det['label']].tolist()
        x1, y1, x2, y2 = (int(round(v * scale)) for v in det['box'])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        text = f'{det["name"]} {det["score"]:.2f}'
        cv2.putText(canvas, text, (x1 + 2, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return canvas


def draw(bgr, labels, classes, opacity):
    """The label map over the image, a colour per class, and a legend of the classes found by area
    (small images are drawn enlarged, so that the legend fits)."""
    palette = palette_of(classes)
    canvas, _ = enlarged(cv2.addWeighted(bgr, 1 - opacity, palette[labels], opacity, 0))
    found = [(int(c), int(n)) for c, n in zip(*np.unique(labels, return_counts=True))]
    found.sort(key=lambda item: -item[1])
    for row, (c, _) in enumerate(found):
        y = 18 + 20 * row
        cv2.rectangle(canvas, (6, y - 12), (20, y + 2), palette[c].tolist(), -1)
        cv2.putText(canvas, classes[c], (26, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas, [(classes[c], n / labels.size) for c, n in found]


def detect(session, feeds, rgb, bgr, classes, score_thr):
    """-> detections above ``score_thr`` in the image's own pixels, masks pasted at its size."""
    boxes, scores, labels, masks = session.run(None, {'image': rgb, **feeds})
    sy, sx = bgr.shape[0] / rgb.shape[2], bgr.shape[1] / rgb.shape[3]
    found = []
    for box, score, label, mask in zip(boxes, scores, labels, masks):
        if score < score_thr:
            continue
        box = (box * [sx, sy, sx, sy]).tolist()
        full = paste(mask, box, bgr.shape[:2]) if mask.size else None
        found.append(dict(name=classes[label], label=int(label), score=float(score), box=box, mask=full))
    return found


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
        rgb = np.ascontiguousarray(cv2.resize(bgr, (w, h))[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None])
        out = osp.join(args.out_dir, 'vis', osp.splitext(osp.basename(path))[0] + '.png')
        if info['task'] == 'detection':
            found = detect(session, feeds, rgb, bgr, classes, args.score_thr)
            cv2.imwrite(out, draw_detections(bgr, found, classes, args.opacity))
            results[path] = [
                dict(name=d['name'], score=round(d['score'], 4), box=[round(v, 1) for v in d['box']]) for d in found
            ]
            print(f'{path}: ' + (', '.join(f'{d["name"]} {d["score"]:.2f}' for d in found) or 'nothing') + f' -> {out}')
            continue
        _, labels = session.run(None, {'image': rgb, **feeds})
        labels = cv2.resize(labels[0].astype(np.int32), bgr.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        canvas, found = draw(bgr, labels, classes, args.opacity)
        cv2.imwrite(out, canvas)
        results[path] = [dict(name=name, area=round(area, 4)) for name, area in found]
        print(f'{path}: ' + ', '.join(f'{name} {area:.0%}' for name, area in found) + f' -> {out}')
    name = 'detections.json' if info['task'] == 'detection' else 'segments.json'
    with open(osp.join(args.out_dir, name), 'w') as f:
        json.dump(dict(model=args.model, classes=classes, images=results), f, indent=1)


if __name__ == '__main__':
    main()
