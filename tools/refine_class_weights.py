"""Refine the text-generated class weights of a trained model on unlabeled
target data with InMaP (vision proxies learned from the features the head
classifies), and write them as a class-weights file.

    python tools/refine_class_weights.py CONFIG CHECKPOINT --out refined.pth \
        [--classes "a,b" | --vocabulary coco] [--split test] [--max-features 100000] \
        [--sinkhorn [--gamma 0]] [--iters 2000] [--keep-background] [--cfg-options k=v ...]
    python tools/test.py CONFIG CHECKPOINT --class-weights refined.pth

The model, dataset and pipeline come from the config (the test dataloader by
default: the unlabeled target data; its annotations are never read). Works
for any icar_mm detector, segmentor or recogniser: features are taken at every
text-generated classifier (after its projection, L2-normalised).
"""

import argparse
import os.path as osp
import sys
import time
import warnings
from dataclasses import asdict, fields

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import add_vocabulary_args, parse_tool_args, requested_vocabulary  # noqa: E402

from icar_mm.apis import build_runner, load_config  # noqa: E402
from icar_mm.refine import InMaPConfig  # noqa: E402

DEFAULTS = {f.name: f.default for f in fields(InMaPConfig)}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='class-weights file to write')
    add_vocabulary_args(parser, 'coco', class_weights=False)  # default: the dataset's, else the model's
    parser.add_argument(
        '--split',
        choices=['test', 'val', 'train'],
        default='test',
        help='whose dataloader supplies the unlabeled data (default: test)',
    )
    parser.add_argument(
        '--max-features',
        type=int,
        default=100000,
        help='uniform sample of at most this many features (default: 100000)',
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the feature sample')
    parser.add_argument(
        '--classifier', action='append', help='module name of the classifier to use (repeatable; default: all)'
    )
    parser.add_argument(
        '--keep-background', action='store_true', help='also use features the head assigns to background (detection)'
    )
    parser.add_argument('--sinkhorn', action='store_true', help='balance pseudo labels over classes')
    parser.add_argument(
        '--keep-empty-classes',
        action='store_true',
        help='classes no feature is pseudo-labelled with keep their text weights',
    )
    for name in ('iters', 'lr', 'tau_t', 'tau_i', 'alpha', 'gamma', 'sinkhorn_iters', 'chunk_size'):
        parser.add_argument(
            '--' + name.replace('_', '-'),
            type=type(DEFAULTS[name]),
            default=DEFAULTS[name],
            help=f'InMaP {name} (default: {DEFAULTS[name]})',
        )
    parser.add_argument('--device', help="where to run the refinement (default: the model's device)")
    parser.add_argument('--work-dir', help='where the runner writes its logs')
    return parse_tool_args(parser)


def main():
    import torch
    from mmengine.model import is_model_wrapper

    from icar_mm.apis import set_vocabulary
    from icar_mm.classifier import TextCosineClassifier
    from icar_mm.engine.hooks import VocabularyHook
    from icar_mm.refine import refine_proxies, write_class_weights
    from icar_mm.refine.features import FeatureSample, capture_features, shared_text_proxies

    args = parse_args()
    inmap = InMaPConfig(**{f.name: getattr(args, f.name) for f in fields(InMaPConfig) if hasattr(args, f.name)})
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'Checkpoint {args.checkpoint!r} does not exist.')
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    loader_cfg = cfg.get(f'{args.split}_dataloader')
    if not loader_cfg:
        raise SystemExit(f'{args.config} defines no {args.split}_dataloader; choose another --split.')
    cfg.load_from = None
    runner = build_runner(cfg)
    runner.load_checkpoint(args.checkpoint)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    loader = runner.build_dataloader(loader_cfg, seed=args.seed)

    # The vocabulary the test would use: named here, else the dataset's (VocabularyHook), else the model's.
    vocabulary = requested_vocabulary(args)
    if vocabulary is not None:
        set_vocabulary(model, vocabulary)
    elif any(isinstance(h, VocabularyHook) for h in runner.hooks):
        VocabularyHook.apply(model, loader.dataset)
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, TextCosineClassifier)]
    if args.classifier:
        unknown = sorted(set(args.classifier) - {n for n, _ in named})
        if unknown:
            raise SystemExit(f'--classifier {unknown}: no such text classifier; the model has {[n for n, _ in named]}.')
        named = [(n, m) for n, m in named if n in args.classifier]
    if not named:
        raise SystemExit(
            f'{args.config}: the model has no text-generated classifier (TextCosineClassifier) '
            'whose class weights could be refined.'
        )
    clf = named[0][1]

    model.eval()
    sample = FeatureSample(args.max_features, args.seed)
    start = time.perf_counter()
    with (
        torch.no_grad(),
        capture_features([m for _, m in named], sample, skip_background=not args.keep_background) as counts,
    ):
        for batch in loader:
            model.test_step(batch)
    features = sample.result()
    kind = 'region' if any(m.background is not None for _, m in named) else 'head'
    print(
        f'{kind} features: {counts["seen"]} from {len(loader.dataset)} samples, '
        f'{counts["background"]} left out as background, {0 if features is None else len(features)} '
        f'used (at most --max-features {args.max_features}) [{time.perf_counter() - start:.1f}s]'
    )
    if features is None:
        hint = (
            ' All of them were classified as background: pass --keep-background to use them anyway.'
            if counts['seen']
            else ' Is the dataloader empty?'
        )
        raise SystemExit(
            f'No features to refine on: the classifiers {[n for n, _ in named]} saw {counts["seen"]} features.{hint}'
        )

    device = torch.device(args.device) if args.device else clf.logit_scale.device
    text = shared_text_proxies(named).to(device)
    start = time.perf_counter()
    features = features.to(device)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # classes without pseudo labels are named below
        result = refine_proxies(features, text, inmap)
    names = clf.class_names
    changed = sum(
        int(((x @ text.T).argmax(1) != (x @ result.proxies.T).argmax(1)).sum())
        for x in features.split(inmap.chunk_size)
    ) / len(features)
    print(
        f'InMaP: {len(names)} classes, {result.config.iters} steps{" with Sinkhorn" if inmap.sinkhorn else ""}, '
        f'final lr {result.final_lr:g} [{time.perf_counter() - start:.1f}s]; '
        f'{100 * changed:.1f}% of the features change class'
    )
    if result.empty_classes:
        print(
            f'{len(result.empty_classes)} classes no feature is pseudo-labelled with '
            f'({"kept as text weights" if inmap.keep_empty_classes else "see --keep-empty-classes"}): '
            f'{[names[i] for i in result.empty_classes][:20]}'
        )

    write_class_weights(
        args.out,
        clf.vocabulary,
        result.proxies,
        templates=clf.test_templates,
        enriched=clf.enriched,
        refinement=dict(
            method='InMaP',
            settings=asdict(inmap),
            num_features=result.num_features,
            features_seen=counts['seen'],
            split=args.split,
            config=args.config,
            checkpoint=args.checkpoint,
            classifiers=[n for n, _ in named],
            empty_classes=[names[i] for i in result.empty_classes],
        ),
    )
    print(
        f'refined class weights written to {args.out}; evaluate with\n'
        f'  python tools/test.py {args.config} {args.checkpoint} --class-weights {args.out}'
    )


if __name__ == '__main__':
    main()
