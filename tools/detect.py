"""Detect any classes, named at run time, with a trained text-generated detector.

    python tools/detect.py CONFIG CHECKPOINT IMAGE|FOLDER [...] \
        [--classes "red circle,blue cross" | --vocabulary coco | --vocabulary my_classes.txt
         | --class-weights refined.pth] [--score-thr 0.3] [--out-dir outputs/detect]
        [--device cpu] [--cfg-options k=v ...]

Runs icar_mm.apis (init_model / inference: mmdet's init_detector and
inference_detector) and writes ``OUT/vis/<image>`` with the detections of at
least --score-thr drawn by mmdet's visualizer, and ``OUT/detections.json``
(class names; per image its labels, scores and boxes).
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import add_inference_args, init_model_from_args, list_images, progress, requested_vocabulary, write_json  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_inference_args(
        parser,
        'images',
        example_vocabulary='coco',
        out_dir='outputs/detect',
        score_thr=0.3,
        score_help='detections below this score are neither drawn nor listed',
    )
    return parser.parse_args()


def main():
    args = parse_args()
    images = list_images(args.inputs)  # unreadable images stop the tool before the model is built
    vocabulary = requested_vocabulary(args)
    import mmcv
    from mmdet.visualization import DetLocalVisualizer

    from icar_mm.apis import class_names, inference

    model = init_model_from_args(args, vocabulary)
    classes = class_names(model)
    visualizer = DetLocalVisualizer()
    visualizer.dataset_meta = model.dataset_meta
    summary = []
    for path in progress(images):
        sample = inference(model, path)
        pred = sample.pred_instances
        keep = pred.scores >= args.score_thr
        detections = [
            dict(label=classes[int(label)], score=round(float(score), 4), bbox=[round(float(v), 2) for v in box])
            for label, score, box in zip(pred.labels[keep], pred.scores[keep], pred.bboxes[keep])
        ]
        summary.append(dict(image=path, detections=detections))
        visualizer.add_datasample(
            osp.basename(path),
            mmcv.imread(path, channel_order='rgb'),
            sample,
            draw_gt=False,
            pred_score_thr=args.score_thr,
            out_file=osp.join(args.out_dir, 'vis', osp.basename(path)),
        )
    write_json(osp.join(args.out_dir, 'detections.json'), dict(classes=list(classes), results=summary))
    for item in summary:
        found = ', '.join(f'{d["label"]} {d["score"]:.2f}' for d in item['detections'][:5]) or 'nothing'
        print(f'{item["image"]}: {found}')
    print(f'drawn detections in {osp.join(args.out_dir, "vis")}, boxes in {osp.join(args.out_dir, "detections.json")}')


if __name__ == '__main__':
    main()
