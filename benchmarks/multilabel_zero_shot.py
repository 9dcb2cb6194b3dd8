"""Zero-shot multi-label mAP: plain text labels vs pseudo visual prompts vs both.

    python benchmarks/multilabel_zero_shot.py [--iters 300] [--seeds 0 1 2]

The synthetic joint space (icar_mm/multilabel/synthetic.py) stands in for an
aligned vision-language model: images of the shapes world (1-3 objects from
render_scene) and, for COCO-80, label sets drawn like the shipped sentences.
Prompts learn from sentence embeddings only (labels from SentenceGenerator /
the shipped coco80 corpus), never from an image label. ``label_noise`` is how
far one class prompt sits from how the class looks in scenes; at 0 the text
labels are exact and prompts have nothing to add. Medians over seeds.
"""

import argparse
import os.path as osp
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from common import add_json_option, result, write_results  # noqa: E402

from icar_mm.datasets.synthetic import ALL_CLASSES  # noqa: E402
from icar_mm.multilabel import PVPMultiLabelClassifier, SentenceGenerator  # noqa: E402
from icar_mm.multilabel.sentences import corpus_vocabulary, load_sentence_file  # noqa: E402
from icar_mm.multilabel.synthetic import JointSpace, fit_on_embeddings, scene_objects, zero_shot_map  # noqa: E402

SCORES = {
    'text labels': dict(frozen_text=1.0),
    'pseudo visual prompts': dict(frozen_prompt=1.0),
    'both (0.5/0.5)': dict(frozen_prompt=0.5, frozen_text=0.5),
}


def world_data(world: str, space: JointSpace, seed: int):
    if world == 'shapes-16':
        sentences = [
            s.labels for s in SentenceGenerator(ALL_CLASSES, min_classes=1, max_classes=3, seed=seed).generate(2000)
        ]
        images = scene_objects(500, seed=1000 + seed)
    else:
        vocab = corpus_vocabulary('coco80')
        sentences = [[vocab.names[i] for i in labels] for _, labels in load_sentence_file('coco80', vocab)]
        images = [
            s.labels for s in SentenceGenerator(vocab, min_classes=1, max_classes=4, seed=1000 + seed).generate(1000)
        ]
    return space.sentences(sentences), space.targets(sentences), space.images(images), space.targets(images)


def run(world: str, label_noise: float, seed: int, iters: int, tmp: str) -> dict:
    classes = ALL_CLASSES if world == 'shapes-16' else corpus_vocabulary('coco80').names
    space = JointSpace(classes, label_noise=label_noise, seed=seed)
    S, Y, X, YX = world_data(world, space, seed)
    torch.manual_seed(seed)
    model = PVPMultiLabelClassifier(
        classifier=dict(class_weights=space.write_class_weights(osp.join(tmp, f'{world}_{seed}.pth')))
    )
    model.init_prompts()
    out = {'text labels (untrained)': zero_shot_map(model, X, YX, dict(frozen_text=1.0))}
    fit_on_embeddings(model, S, Y, iters=iters, seed=seed)
    out.update({name: zero_shot_map(model, X, YX, w) for name, w in SCORES.items()})
    out['text labels (untrained)'], out['adapted text labels'] = (
        out.pop('text labels (untrained)'),
        out.pop('text labels'),
    )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--label-noise', type=float, nargs='+', default=[0.0, 0.5, 1.0, 1.5])
    parser.add_argument('--worlds', nargs='+', default=['shapes-16', 'coco-80'])
    add_json_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    cols = ['text labels (untrained)', 'pseudo visual prompts', 'adapted text labels', 'both (0.5/0.5)']
    print(f'zero-shot mAP (%), median of seeds {args.seeds}, {args.iters} iterations on sentences only')
    print(f'| world | label noise | {" | ".join(cols)} | both - text |')
    print('|' + '---|' * (len(cols) + 3))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for world in args.worlds:
            for ln in args.label_noise:
                runs = [run(world, ln, s, args.iters, tmp) for s in args.seeds]
                med = {c: float(np.median([r[c] for r in runs])) for c in cols}
                gain = float(np.median([r['both (0.5/0.5)'] - r['text labels (untrained)'] for r in runs]))
                print(
                    f'| {world} | {ln:.1f} | ' + ' | '.join(f'{med[c]:.1f}' for c in cols) + f' | {gain:+.1f} |',
                    flush=True,
                )
                rows.append(
                    result(
                        f'{world}, noise {ln:.1f}: both vs text labels',
                        med['text labels (untrained)'],
                        med['both (0.5/0.5)'],
                        'mAP %',
                    )
                )
    write_results(args.json, rows)


if __name__ == '__main__':
    main()
