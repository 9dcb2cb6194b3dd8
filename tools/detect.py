"""Detect any classes, named at run time, with a trained text-generated detector.

    python tools/detect.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \
        --classes "red circle,blue cross" | --vocabulary coco | --vocabulary my_classes.txt \
        [--out-dir outputs/detect] [--score-thr 0.3] [--device cpu] [--cfg-options k=v ...]

Writes, through mmdet's DetInferencer: ``OUT/vis/<image>`` with the detections
drawn (mmdet's visualizer), ``OUT/preds/<image>.json`` (labels, scores, boxes),
and ``OUT/detections.json`` with class names, for all images.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from icar_mm.apis import (add_image_tool_args, list_images, load_config, requested_vocabulary,  # noqa: E402
                          set_vocabulary)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_image_tool_args(parser, example_vocabulary='coco', out_dir='outputs/detect')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--device', default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (e.g. a checkpoint path)')
    return parser.parse_args()


def main():
    args = parse_args()
    images = list_images(args.images)  # unreadable images stop the tool before the model is built
    from mmdet.apis import DetInferencer

    inferencer = DetInferencer(model=load_config(args.config, cfg_options=args.cfg_options), weights=args.checkpoint, device=args.device,
                               palette='random', show_progress=False)
    vocabulary = requested_vocabulary(args)
    if vocabulary:
        set_vocabulary(inferencer.model, vocabulary)
        inferencer.visualizer.dataset_meta = inferencer.model.dataset_meta
    classes = inferencer.model.dataset_meta['classes']
    results = inferencer(images, out_dir=args.out_dir, no_save_pred=False, pred_score_thr=args.score_thr)
    summary = []
    for image, pred in zip(images, results['predictions']):
        keep = [i for i, s in enumerate(pred['scores']) if s >= args.score_thr]
        summary.append(dict(image=image, detections=[
            dict(label=classes[pred['labels'][i]], score=round(pred['scores'][i], 4), bbox=pred['bboxes'][i])
            for i in keep]))
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'detections.json'), 'w') as f:
        json.dump(dict(classes=list(classes), results=summary), f, indent=1)
    for item in summary:
        found = ', '.join(f'{d["label"]} {d["score"]:.2f}' for d in item['detections'][:5]) or 'nothing'
        print(f'{item["image"]}: {found}')
    print(f'drawn detections in {osp.join(args.out_dir, "vis")}, boxes in {osp.join(args.out_dir, "detections.json")}')


if __name__ == '__main__':
    main()
