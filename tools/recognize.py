"""Recognise actions of any classes, named at run time, in video files.

    python tools/recognize.py CONFIG CHECKPOINT VIDEO|FOLDER [...] \
        [--classes "juggling balls,riding a bike" | --vocabulary ucf101 | --vocabulary my_classes.txt
         | --class-weights refined.pth] [--topk 5 | --score-thr 0.2] [--out-dir outputs/recognize]
        [--device cpu] [--cfg-options k=v ...]

Runs icar_mm.apis (init_model / inference: mmaction2's init_recognizer and
inference_recognizer with the config's test pipeline) and reports, per video,
the top-k classes with their scores, or with --score-thr every class scoring
at least that. Writes ``OUT/vis/<video>.jpg`` (the middle frame with the
reported classes drawn, enlarged to 224 px when smaller) and ``OUT/recognitions.json``.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import add_inference_args, init_model_from_args, list_videos, progress, requested_vocabulary, write_json  # noqa: E402
from _drawing import clip_frames, draw_labels  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_inference_args(
        parser,
        'videos',
        example_vocabulary='ucf101',
        out_dir='outputs/recognize',
        score_thr=None,
        score_help='report the classes scoring at least this, instead of the top-k',
    )
    parser.add_argument('--topk', type=int, default=5, help='classes reported without --score-thr (default: 5)')
    return parser.parse_args()


def main():
    args = parse_args()
    videos = list_videos(args.inputs)  # unreadable videos stop the tool before the model is built
    vocabulary = requested_vocabulary(args)
    import mmcv
    from mmaction.visualization import ActionVisualizer

    from icar_mm.apis import class_names, inference

    model = init_model_from_args(args, vocabulary)
    classes = class_names(model)
    visualizer = ActionVisualizer()
    summary = []
    for path in progress(videos):
        scores = inference(model, path).pred_scores.item.float().cpu()
        if args.score_thr is not None:
            order = scores.argsort(descending=True)
            top = [i for i in order.tolist() if scores[i] >= args.score_thr]
        else:
            top = scores.topk(min(args.topk, len(classes))).indices.tolist()
        found = [dict(label=classes[i], score=round(float(scores[i]), 4)) for i in top]
        summary.append(dict(video=path, classes=found))
        drawn = draw_labels(visualizer, clip_frames(path), [f'{d["score"]:.2f} {d["label"]}' for d in found])
        mmcv.imwrite(drawn[..., ::-1], osp.join(args.out_dir, 'vis', osp.splitext(osp.basename(path))[0] + '.jpg'))
    write_json(osp.join(args.out_dir, 'recognitions.json'), dict(classes=list(classes), results=summary))
    for item in summary:
        what = (
            f'{len(item["classes"])} classes scoring at least {args.score_thr}'
            if args.score_thr is not None
            else f'top {len(item["classes"])}'
        )
        print(f'{item["video"]}: {what} of {len(classes)} classes')
        for d in item['classes']:
            print(f'  {d["score"]:8.4f}  {d["label"]}')
    print(
        f'frames with labels in {osp.join(args.out_dir, "vis")}, scores in '
        f'{osp.join(args.out_dir, "recognitions.json")}'
    )


if __name__ == '__main__':
    main()
