"""Cost of the text-generated cosine classifier, side by side with baselines
run in the same process.

    python benchmarks/text_classifier.py                  # full size (LVIS-like 1203 x 80)
    python benchmarks/text_classifier.py --classes 100 --templates 8   # quick look

1. Building class weights (random-init text towers, frozen): the tiny tower
   and ViT-B-32 for ``--classes`` x ``--templates`` prompts; reported against
   the same tower run on untrimmed (77-token) batches, i.e. what open_clip's
   own ``build_zero_shot_classifier`` costs.
2. A cached classifier forward vs a plain ``nn.Linear`` of the same shape
   (``--rois`` features x classes): median time ratio.
3. Peak memory of each step (CUDA allocator peak, or process RSS growth on CPU).
"""

import argparse
import os
import os.path as osp
import resource
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from common import add_json_option, result, write_results  # noqa: E402

from icar_mm.classifier import TextCosineClassifier  # noqa: E402
from icar_mm.text.encoder import OpenCLIPTextEncoder  # noqa: E402
from icar_mm.text.vocabulary import get_templates  # noqa: E402


def peak_mb(device):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)


def reset_peak(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def median_time(fn, device, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def vocabulary(num_classes):
    """Enriched classes, as iCAR prompts them: a name plus a one-sentence description."""
    return [
        (f'object kind {i}', f'a common household object of kind {i}, small and often made of plastic.')
        for i in range(num_classes)
    ]


def build_weights(model_name, args, device):
    """Seconds to build class weights, trimmed (ours) vs full-length batches.
    On CPU, towers other than tiny-random-clip run on the first classes only (at most
    ``--cpu-max-prompts`` prompts) and times are scaled to all classes."""
    templates = (
        get_templates('imagenet80')[: args.templates]
        if args.templates <= 80
        else [f'template {i} of a {{}}.' for i in range(args.templates)]
    )
    num_classes = args.classes
    if device.type == 'cpu' and model_name != 'tiny-random-clip':
        num_classes = min(num_classes, max(1, args.cpu_max_prompts // len(templates)))
    torch.manual_seed(0)
    encoder = OpenCLIPTextEncoder(model_name).to(device)
    clf = (
        TextCosineClassifier(encoder, vocabulary(num_classes), templates=templates, text_chunk_size=args.chunk)
        .to(device)
        .eval()
    )
    reset_peak(device)
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        clf.class_embeddings()
    sync(device)
    ours = time.perf_counter() - t0
    mem = peak_mb(device)
    # Baseline: the same prompts through the tower at full context length.
    prompts = [p for row in clf.vocabulary.prompts(templates) for p in row]
    tokens = encoder.tokenize(prompts)
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for chunk in tokens.split(args.chunk):
            encoder.tower(chunk.to(device))
    sync(device)
    full = time.perf_counter() - t0
    scale = args.classes / num_classes
    return ours * scale, full * scale, mem, num_classes < args.classes


def forward_ratio(args, device):
    torch.manual_seed(0)
    clf = (
        TextCosineClassifier(dict(type='OpenCLIPTextEncoder', model_name=args.forward_model), vocabulary(args.classes))
        .to(device)
        .eval()
    )
    # same shape: features of the text embedding size -> classes
    dim = clf.embed_dim
    linear = nn.Linear(dim, args.classes).to(device).eval()  # as the fc_cls it replaces (with bias)
    feats = torch.randn(args.rois, dim, device=device)

    def timed(fn):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        return time.perf_counter() - t0

    with torch.inference_mode():
        clf(feats)  # fills the cache
        for _ in range(3):
            clf(feats), linear(feats)
        # paired: each cosine call timed right after a linear one, so machine noise hits both alike
        # (the order alternates so that neither side always runs on a cold cache)
        pairs = []
        for i in range(args.repeats):
            if i % 2:
                pairs.append((timed(lambda: clf(feats)), timed(lambda: linear(feats))))
            else:
                pairs.append(tuple(reversed((timed(lambda: linear(feats)), timed(lambda: clf(feats))))))
    ours, base = zip(*pairs)
    return statistics.median(ours), statistics.median(base), statistics.median(o / b for o, b in pairs), dim


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--classes', type=int, default=1203)
    parser.add_argument('--templates', type=int, default=80)
    parser.add_argument('--models', nargs='+', default=['tiny-random-clip', 'ViT-B-32'])
    parser.add_argument('--chunk', type=int, default=1024, help='prompts per text-encoder batch')
    parser.add_argument(
        '--cpu-max-prompts',
        type=int,
        default=1600,
        help='on CPU, larger towers run on this many prompts (times scaled)',
    )
    parser.add_argument('--rois', type=int, default=1024, help='features per classifier forward')
    parser.add_argument(
        '--forward-model', default='ViT-B-32', help='text tower whose embedding size sets the forward shape'
    )
    parser.add_argument('--repeats', type=int, default=200, help='paired forward calls')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    add_json_option(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', os.cpu_count() or 1)))
    print(f'device={device} threads={torch.get_num_threads()} torch={torch.__version__}')

    print(
        f'\n1. class weights for {args.classes} classes x {args.templates} templates '
        f'({args.classes * args.templates} prompts)'
    )
    print(f'{"text tower":<12} {"ours (s)":>10} {"77-token (s)":>13} {"ratio":>7} {"peak MiB":>9}')
    rows = []
    for name in args.models:
        ours, full, mem, estimated = build_weights(name, args, device)
        mark = '*' if estimated else ' '
        print(f'{name:<12} {ours:>9.2f}{mark} {full:>12.2f}{mark} {ours / full:>7.2f} {mem:>9.0f}')
        rows.append(
            result(
                f'class weights {name} {args.classes}x{args.templates} vs 77-token' + (', scaled' if estimated else ''),
                full,
                ours,
                's',
            )
        )
    if device.type == 'cpu':
        print(f'* on CPU: measured on the first {args.cpu_max_prompts} prompts, scaled to all classes')

    ours, base, ratio, dim = forward_ratio(args, device)
    print(
        f'\n2. forward of {args.rois} x {dim} features over {args.classes} classes '
        f'(medians of {args.repeats} paired calls)'
    )
    print(f'{"nn.Linear (ms)":>15} {"cached cosine (ms)":>19} {"median ratio":>13}')
    print(f'{base * 1e3:>15.3f} {ours * 1e3:>19.3f} {ratio:>13.3f}')
    rows.append(
        result(f'cached forward {args.rois}x{dim}->{args.classes} vs nn.Linear', base * 1e3, ours * 1e3, 'ms', ratio)
    )
    write_results(args.json, rows)


if __name__ == '__main__':
    main()
