"""Run every benchmark, one after another, and print one table of ours vs the
baseline each of them measures in the same process.

    python benchmarks/run_all.py                       # full sizes (long on CPU)
    python benchmarks/run_all.py --quick               # smoke check, a few minutes
    python benchmarks/run_all.py --only inmap detection_head --out results.json

Each benchmark runs in its own process (never in parallel: parallel torch
processes distort each other's timings), prints its own tables as it goes and
writes its measurements with ``--json``; the combined rows go to ``--out``.
A benchmark that fails is a row of the table and makes the exit status 1.
"""

import argparse
import json
import math
import os.path as osp
import subprocess
import sys
import tempfile
import time

HERE = osp.dirname(osp.abspath(__file__))

# name -> arguments of its --quick run: smaller sizes, fewer repeats, and the tiny text tower
# where encoding a large vocabulary with ViT-B-32 would take most of the time
BENCHMARKS = {
    'text_classifier': [
        '--classes',
        '100',
        '--templates',
        '8',
        '--cpu-max-prompts',
        '96',
        '--rois',
        '256',
        '--repeats',
        '50',
    ],
    'detection_head': ['--size', '256', '--repeats', '3', '--text-model', 'tiny-random-clip'],
    'segmentation_head': ['--size', '128', '--repeats', '3', '--text-model', 'tiny-random-clip'],
    'recognition_head': ['--frames', '4', '--size', '64', '--repeats', '3', '--text-model', 'tiny-random-clip'],
    'inmap': ['--features', '5000', '--classes', '100', '--repeats', '3'],
    'inmap_effect': ['--features', '1000', '--iters', '200'],
    'multilabel_zero_shot': ['--iters', '50', '--seeds', '0', '--label-noise', '0.0', '1.0'],
    'shared_text_encoding': ['--tower', 'tiny', '--classes', '100', '--repeats', '2'],
    'inference_api': ['--classes', '100', '--templates', '8', '--text-model', 'tiny-random-clip', '--repeats', '3'],
    'onnx_runtime': ['--tiny', '--repeats', '3'],
}
COLUMNS = ('benchmark', 'measurement', 'baseline', 'ours', 'ratio', 'peak MiB')


def run(name, quick, tmp):
    """Run one benchmark; -> (rows, error or None, seconds)."""
    path = osp.join(tmp, f'{name}.json')
    cmd = [sys.executable, osp.join(HERE, f'{name}.py'), '--json', path] + (BENCHMARKS[name] if quick else [])
    print(f'\n=== {name}: {" ".join(cmd[1:])}', flush=True)
    start = time.perf_counter()
    code = subprocess.call(cmd)
    seconds = time.perf_counter() - start
    if code != 0:
        return [], f'exit status {code} (its output is above)', seconds
    if not osp.exists(path):
        return [], f'exited 0 but wrote no results to {path}', seconds
    with open(path) as f:
        return json.load(f), None, seconds


def number(value, digits=3):
    """``digits`` significant digits, without exponent; '-' for no value."""
    if value is None:
        return '-'
    return f'{value:.{max(0, digits - 1 - math.floor(math.log10(abs(value))))}f}' if value else '0'


def table(rows, failures):
    lines = []
    for name, group in rows.items():
        if name in failures:
            lines.append((name, f'FAILED: {failures[name]}', '', '', '', ''))
        for i, r in enumerate(group):
            lines.append(
                (
                    name if i == 0 else '',
                    f'{r["metric"]} ({r["unit"]})',
                    number(r['baseline']),
                    number(r['ours']),
                    number(r['ratio']),
                    f'{r["peak_mib"]:.0f}' if i == 0 else '',
                )
            )
    widths = [max(len(str(cell)) for cell in column) for column in zip(COLUMNS, *lines)]
    align = ['<', '<', '>', '>', '>', '>']
    fmt = '  '.join(f'{{:{a}{w}}}' for a, w in zip(align, widths))
    out = [fmt.format(*COLUMNS), '  '.join('-' * w for w in widths)]
    return '\n'.join(out + [fmt.format(*line).rstrip() for line in lines])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='ratio = ours / baseline (times and memory: < 1 is better; accuracy and mAP: > 1 is better).',
    )
    parser.add_argument(
        '--quick',
        action='store_true',
        help='small sizes, few repeats and the tiny text tower in the head benchmarks, so that '
        'everything finishes in a few minutes: numbers for smoke checks only, not for quoting',
    )
    parser.add_argument(
        '--only',
        nargs='+',
        metavar='NAME',
        choices=list(BENCHMARKS),
        help=f'run only these benchmarks: {", ".join(BENCHMARKS)}',
    )
    parser.add_argument('--out', metavar='PATH', help='write the combined rows as JSON')
    args = parser.parse_args()

    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    rows, failures, wall, start = {}, {}, {}, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows[name], error, wall[name] = run(name, args.quick, tmp)
            if error:
                failures[name] = error
            print(f'=== {name}: {"FAILED, " + error if error else "done"} in {wall[name]:.0f} s', flush=True)
    total = time.perf_counter() - start

    print(
        f'\n{"QUICK sizes: smoke check only, not for quoting. " if args.quick else ""}'
        f'{len(names)} benchmark(s), {len(failures)} failed, {total:.0f} s in all\n'
    )
    print(table(rows, failures))
    print(
        '\nratio = ours / baseline, both measured in the same process (timing ratios: median of paired '
        'ratios where the benchmark times in alternation).\nTimes and memory: < 1 is better; '
        "accuracy and mAP (%): > 1 is better.\npeak MiB: peak RSS of the benchmark's whole process "
        '(ru_maxrss: both models, the libraries and the inputs).'
    )
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    quick=args.quick,
                    failures=failures,
                    wall_s=wall,
                    total_s=total,
                    rows=[r for group in rows.values() for r in group],
                ),
                f,
                indent=1,
            )
        print(f'rows written to {args.out}')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
