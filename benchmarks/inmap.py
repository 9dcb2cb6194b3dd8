"""Cost of the InMaP refinement, side by side with a direct transcription of
the published loop (idstcv/InMaP ``main.py``: ``sinkhorn`` + ``image_opt``),
both run in this process on the same inputs.

    python benchmarks/inmap.py                         # 50,000 x 1,000 x 512 on CPU, 5 steps
    python benchmarks/inmap.py --iters 2000            # the published step count (long on CPU)
    python benchmarks/inmap.py --features 5000 --classes 100 --device cuda

Each variant is timed in two phases (medians of ``--repeats`` runs): pseudo
labels (text softmax, without and with Sinkhorn) and the gradient steps (run
time with ``--iters`` steps minus the labels, per step); the total at the
published 2000 steps is extrapolated from both (every step does the same
work). Peak memory is what a run with Sinkhorn adds on top of the inputs: the
CUDA allocator's peak, or on CPU the process RSS sampled every 0.5 ms. The
outputs of both are compared (max abs difference of the proxies).
"""

import argparse
import ctypes
import os.path as osp
import statistics
import sys
import threading
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from common import add_json_option, result, write_results  # noqa: E402

from icar_mm.refine import refine_proxies  # noqa: E402

PUBLISHED_ITERS = 2000


# --- the published procedure, transcribed (classifier as [D, C] columns) ----------------
def published_sinkhorn(M, tau_t=0.01, gamma=0.0, iters=20):
    row, col = M.shape
    P = F.softmax(M / tau_t, dim=1)
    P /= row
    if gamma > 0:
        q = torch.sum(P, dim=0, keepdim=True)
        q = q**gamma
        q /= torch.sum(q)
    for _ in range(iters):
        P /= torch.sum(P, dim=0, keepdim=True)
        if gamma > 0:
            P *= q
        else:
            P /= col
        P /= torch.sum(P, dim=1, keepdim=True)
        P /= row
    P *= row
    return P


def published_image_opt(feat, init_classifier, plabel, lr=10, iters=2000, tau_i=0.04, alpha=0.6):
    ins, dim = feat.shape
    val, idx = torch.max(plabel, dim=1)
    mask = val > alpha
    plabel[mask, :] = 0
    plabel[mask, idx[mask]] = 1
    base = feat.T @ plabel
    classifier = init_classifier.clone()
    pre_norm = float('inf')
    for _ in range(iters):
        prob = F.softmax(feat @ classifier / tau_i, dim=1)
        grad = feat.T @ prob - base
        temp = torch.norm(grad)
        if temp > pre_norm:
            lr /= 2.0
        pre_norm = temp
        classifier -= (lr / (ins * tau_i)) * grad
        classifier = F.normalize(classifier, dim=0)
    return classifier


def published_labels(feat, text, sinkhorn):
    logits_t = feat @ text.T
    return published_sinkhorn(logits_t) if sinkhorn else F.softmax(logits_t / 0.01, dim=1)


def published(feat, text, sinkhorn, iters, chunk_size=None):
    return published_image_opt(feat, text.T, published_labels(feat, text, sinkhorn), iters=iters).T


def ours(feat, text, sinkhorn, iters, chunk_size):
    return refine_proxies(feat, text, sinkhorn=sinkhorn, iters=iters, chunk_size=chunk_size).proxies


# --- measurement -----------------------------------------------------------------------
def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096


def release_freed_memory():
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:
        pass


def peak_extra_mib(fn, device):
    """Memory ``fn`` needs beyond what is allocated when it starts."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    release_freed_memory()
    base, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], rss_bytes())
    release_freed_memory()
    return (peak[0] - base) / 2**20


def median_time(fn, device, repeats):
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_inputs(n, c, d, device, seed=0):
    """Unit features in clusters offset from their (unit) text proxies, as CLIP's
    image and text embeddings are (cosines of a few tenths)."""
    g = torch.Generator().manual_seed(seed)
    text = F.normalize(torch.randn(c, d, generator=g), dim=1)
    centres = F.normalize(text + 0.8 * F.normalize(torch.randn(c, d, generator=g), dim=1), dim=1)
    labels = torch.randint(c, (n,), generator=g)
    feats = F.normalize(centres[labels] + 0.6 * torch.randn(n, d, generator=g) / d**0.5, dim=1)
    return feats.to(device), text.to(device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--features', type=int, default=50000)
    parser.add_argument('--classes', type=int, default=1000)
    parser.add_argument('--dim', type=int, default=512)
    parser.add_argument(
        '--iters', type=int, default=5, help=f'gradient steps timed per run (published: {PUBLISHED_ITERS})'
    )
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--chunk-size', type=int, default=16384)
    parser.add_argument('--device', default='cpu')
    add_json_option(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    feat, text = make_inputs(args.features, args.classes, args.dim, device)
    print(
        f'InMaP: {args.features} features x {args.classes} classes x {args.dim} dims, float32, '
        f'{device.type}, {torch.get_num_threads()} threads; {args.iters} gradient steps per run '
        f'(published: {PUBLISHED_ITERS}; the 2000-step total is extrapolated), median of {args.repeats}'
    )
    if args.iters < PUBLISHED_ITERS:
        print(f'NOTE: --iters {args.iters} < {PUBLISHED_ITERS}: both variants run the same reduced step count.')
    timings, outputs = {}, {}
    for name, fn in (('published', published), ('ours', ours)):

        def run(sinkhorn, iters, fn=fn):
            return fn(feat, text, sinkhorn, iters, args.chunk_size)

        run(False, 1)  # warm-up
        labels = {
            mode: median_time(lambda: run(mode == 'sinkhorn', 0), device, args.repeats)
            for mode in ('plain', 'sinkhorn')
        }
        total = median_time(lambda: outputs.__setitem__((name, 'plain'), run(False, args.iters)), device, args.repeats)
        step = max(total - labels['plain'], 0.0) / max(args.iters, 1)
        # peak over both phases (labels with Sinkhorn, then a gradient step)
        mem = peak_extra_mib(lambda: outputs.__setitem__((name, 'sinkhorn'), run(True, args.iters)), device)
        timings[name] = (labels, step, mem)
    diffs = {
        mode: float((outputs['ours', mode] - outputs['published', mode]).abs().max()) for mode in ('plain', 'sinkhorn')
    }

    head = f'{"variant":10} {"labels s":>9} {"+Sinkhorn s":>12} {"step ms":>8} {"2000 steps s":>13} {"peak MiB":>9}'
    print('\n' + head + '\n' + '-' * len(head))
    rows = {}
    for name, (labels, step, mem) in timings.items():
        rows[name] = (labels['plain'], labels['sinkhorn'], 1e3 * step, labels['plain'] + PUBLISHED_ITERS * step, mem)
        print(
            f'{name:10} {rows[name][0]:9.2f} {rows[name][1]:12.2f} {rows[name][2]:8.1f} '
            f'{rows[name][3]:13.1f} {rows[name][4]:9.0f}'
        )
    ratios = [a / b if b > 0 else float('nan') for a, b in zip(rows['published'], rows['ours'])]
    print(
        f'{"pub/ours":10} {ratios[0]:8.2f}x {ratios[1]:11.2f}x {ratios[2]:7.2f}x {ratios[3]:12.2f}x {ratios[4]:8.2f}x'
    )
    print(
        f'max |ours - published| after {args.iters} steps: {diffs["plain"]:.2e} (plain), '
        f'{diffs["sinkhorn"]:.2e} (Sinkhorn)'
    )
    print('peak MiB: memory beyond the inputs during labels with Sinkhorn + the steps.')
    metrics = [
        ('pseudo labels', 's'),
        ('pseudo labels +Sinkhorn', 's'),
        ('gradient step', 'ms'),
        (f'{PUBLISHED_ITERS} steps (extrapolated)', 's'),
        ('peak extra memory', 'MiB'),
    ]
    write_results(
        args.json,
        [
            result(f'{metric} vs published', base, ours, unit)
            for (metric, unit), base, ours in zip(metrics, rows['published'], rows['ours'])
        ],
    )


if __name__ == '__main__':
    main()
