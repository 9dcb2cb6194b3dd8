"""What InMaP buys: top-1 accuracy of the text proxies, and of the vision
proxies InMaP learns from the same (unlabeled) features, without and with
Sinkhorn, on synthetic feature sets whose class clusters sit away from their
text proxies (the modality gap CLIP-like heads have).

    python benchmarks/inmap_effect.py                 # all scenarios, published settings
    python benchmarks/inmap_effect.py --iters 500 --features 5000

Scenarios (each a fixed seed, labels used only to score):
  gap       a shared offset between modalities plus a class-specific shift
  hubs      as ``gap``, and a few text proxies pulled towards the feature mean:
            they attract the predictions of other classes (Sinkhorn's case)
  longtail  as ``gap`` with class frequencies falling 20x from head to tail
            (a uniform Sinkhorn prior is wrong here; gamma > 0 softens it)
"""

import argparse
import os.path as osp
import sys
import time
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from common import add_json_option, result, write_results  # noqa: E402

from icar_mm.refine import refine_proxies  # noqa: E402


def scenario(name, n, c, d, shift, spread, seed=0):
    """-> features [N, D], labels [N], text proxies [C, D] (unit rows)."""
    g = torch.Generator().manual_seed(seed)
    text = F.normalize(torch.randn(c, d, generator=g), dim=1)
    gap = F.normalize(torch.randn(d, generator=g), dim=0)
    centres = F.normalize(text + gap + shift * F.normalize(torch.randn(c, d, generator=g), dim=1), dim=1)
    if name == 'longtail':
        freq = torch.logspace(0, -1.3, c)  # 20x from head to tail
        labels = torch.multinomial(freq / freq.sum(), n, replacement=True, generator=g)
    else:
        labels = torch.randint(c, (n,), generator=g)
    feats = F.normalize(centres[labels] + spread * torch.randn(n, d, generator=g) / d**0.5, dim=1)
    if name == 'hubs':
        hubs = torch.randperm(c, generator=g)[: max(1, c // 20)]
        text[hubs] = F.normalize(text[hubs] + 1.5 * F.normalize(feats.mean(0), dim=0), dim=1)
    return feats, labels, text


def accuracy(feats, proxies, labels):
    return 100 * float(((feats @ proxies.T).argmax(1) == labels).float().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--features', type=int, default=4000)
    parser.add_argument('--classes', type=int, default=40)
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--iters', type=int, default=2000, help='gradient steps (published: 2000)')
    parser.add_argument('--shift', type=float, default=1.5, help='class-specific offset of the clusters')
    parser.add_argument('--spread', type=float, default=3.0, help='noise norm around the cluster centres')
    parser.add_argument('--scenarios', default='gap,hubs,longtail')
    add_json_option(parser)
    args = parser.parse_args()
    variants = [
        ('InMaP', dict()),
        ('+Sinkhorn', dict(sinkhorn=True)),
        ('+Sinkhorn g=0.5', dict(sinkhorn=True, gamma=0.5)),
    ]
    print(
        f'top-1 % on {args.features} synthetic features, {args.classes} classes, {args.dim}-d; '
        f'InMaP with the published settings, {args.iters} steps'
    )
    head = f'{"scenario":9} {"text proxies":>12} ' + ' '.join(f'{v:>15}' for v, _ in variants) + f' {"time s":>7}'
    print(head + '\n' + '-' * len(head))
    rows = []
    for name in args.scenarios.split(','):
        feats, labels, text = scenario(name, args.features, args.classes, args.dim, args.shift, args.spread)
        cells, start = [], time.perf_counter()
        for _, kw in variants:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # classes without pseudo labels are expected in 'hubs'
                proxies = refine_proxies(feats, text, iters=args.iters, **kw).proxies
            cells.append(accuracy(feats, proxies, labels))
        elapsed = (time.perf_counter() - start) / len(variants)
        text_acc = accuracy(feats, text, labels)
        print(f'{name:9} {text_acc:12.1f} ' + ' '.join(f'{a:15.1f}' for a in cells) + f' {elapsed:7.1f}')
        rows += [
            result(f'{name}: {variant} vs text', text_acc, acc, 'top-1 %') for (variant, _), acc in zip(variants, cells)
        ]
    write_results(args.json, rows)


if __name__ == '__main__':
    main()
