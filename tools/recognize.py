"""Recognise actions of any classes, named at run time, in a video file.

    python tools/recognize.py VIDEO --config CONFIG --checkpoint CHECKPOINT \
        [--classes "juggling balls,riding a bike" | --classes ucf101 | --classes my_classes.txt] \
        [--topk 5] [--device cpu]

Runs mmaction2's own inference API (``init_recognizer`` / ``inference_recognizer``
with the config's test pipeline) and prints the top-k classes with their scores.
``--classes``: comma-separated names, or one shipped vocabulary name or file;
without it the vocabulary the checkpoint was trained (or last tested) with.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('video', help='video file')
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--classes', help='comma-separated class names, or a shipped vocabulary '
                                          'name (e.g. kinetics400, ucf101) or a .txt/.json file')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--device', default=None, help='default: cuda:0 when available, else cpu')
    return parser.parse_args()


def vocabulary_spec(text: str):
    """One name without a comma may be a shipped vocabulary or a file; else class names."""
    from icar_mm.text.vocabulary import shipped_vocabularies
    if ',' not in text and (osp.isfile(text) or text.partition(':')[0] in shipped_vocabularies()):
        return text
    return [c.strip() for c in text.split(',') if c.strip()]


def main():
    args = parse_args()
    if not osp.isfile(args.video):
        raise SystemExit(f'Video file not found: {args.video}')
    import torch
    from mmaction.apis import inference_recognizer, init_recognizer

    import icar_mm  # noqa: F401  (host fixes, registries)
    from icar_mm.apis import load_config, set_vocabulary
    from icar_mm.classifier import iter_classifiers
    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    model = init_recognizer(load_config(args.config), args.checkpoint, device=device)
    if args.classes:
        set_vocabulary(model, vocabulary_spec(args.classes))
    classifiers = list(iter_classifiers(model))
    if not classifiers:
        raise SystemExit(f'{args.config} has no text-generated classifier: its classes cannot be named.')
    classes = classifiers[0].class_names
    result = inference_recognizer(model, args.video)
    scores = result.pred_scores.item.float().cpu()
    top = scores.topk(min(args.topk, len(classes)))
    print(f'{args.video}: top {len(top.indices)} of {len(classes)} classes')
    for score, i in zip(top.values.tolist(), top.indices.tolist()):
        print(f'  {score:8.4f}  {classes[i]}')


if __name__ == '__main__':
    main()
