"""Timing, memory and result helpers shared by the benchmarks."""

import json
import os.path as osp
import resource
import statistics
import sys
import time


def median_time(fn, repeats, warmup=2):
    """Median wall time of ``fn`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_medians(fn_a, fn_b, repeats, warmup=2):
    """Median time of each, timed in alternation so both see the same machine
    state, and the median of per-pair ratios b / a."""
    for _ in range(warmup):
        fn_a(), fn_b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb), statistics.median(b / a for a, b in zip(ta, tb))


def peak_rss_growth(fn, repeats=2):
    """MiB the process peak RSS grows by while running ``fn`` (the peak only
    grows, so measure the baseline model first)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(repeats):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def peak_rss():
    """Peak RSS of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- machine-readable results, collected by benchmarks/run_all.py ------------------------
def add_json_option(parser):
    parser.add_argument(
        '--json', metavar='PATH', help='also write the measurements as JSON rows (read by benchmarks/run_all.py)'
    )


def result(metric, baseline, ours, unit, ratio=None):
    """One measurement: ours against the baseline measured in the same process.
    ``ratio`` defaults to ours / baseline; pass the median of paired ratios where
    the benchmark has one (less noisy than the ratio of medians)."""
    if ratio is None:
        ratio = ours / baseline if baseline else None
    return dict(metric=metric, baseline=float(baseline), ours=float(ours), ratio=ratio, unit=unit)


def write_results(path, rows):
    """Write ``rows`` (from ``result``) to ``path`` as JSON, each tagged with the
    benchmark (the script's name) and this process's peak RSS so far in MiB."""
    if not path:
        return
    benchmark = osp.splitext(osp.basename(sys.argv[0]))[0]
    rows = [dict(row, benchmark=benchmark, peak_mib=peak_rss()) for row in rows]
    with open(path, 'w') as f:
        json.dump(rows, f, indent=1)


def compare_models(baseline, ours, build_steps, repeats, json_path):
    """The head benchmarks' common run: ``build_steps(cosine)`` builds one model
    and returns its timed steps (name -> function, baseline and ours alike).
    Peak memory is measured for the baseline first (the process peak only
    grows), then both models are timed in alternation; prints the side-by-side
    table and writes the rows (``--json``)."""
    steps, growth = [], []
    for cosine in (False, True):
        fns = build_steps(cosine)
        growth.append(peak_rss_growth(lambda: [fn() for fn in fns.values()]))
        steps.append(fns)
    rows = [(name, *paired_medians(steps[0][name], steps[1][name], repeats)) for name in steps[0]]
    width = max(len(baseline), len(ours)) + 2
    print(f'{"":<24}{baseline:>{width}}{ours:>{width}}{"ratio":>8}')
    for name, a, b, ratio in rows:
        print(f'{name + " (ms)":<24}{a * 1e3:>{width}.2f}{b * 1e3:>{width}.2f}{ratio:>8.3f}')
    print(f'{"peak RSS growth (MiB)":<24}{growth[0]:>{width}.0f}{growth[1]:>{width}.0f}')
    print(f'{"process peak (MiB)":<24}{"":>{width}}{peak_rss():>{width}.0f}')
    write_results(
        json_path,
        [result(f'{name} vs {baseline}', a * 1e3, b * 1e3, 'ms', ratio) for name, a, b, ratio in rows]
        + [result('peak RSS growth', *growth, 'MiB')],
    )
