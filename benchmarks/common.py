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
    parser.add_argument('--json', metavar='PATH',
                        help='also write the measurements as JSON rows (read by benchmarks/run_all.py)')


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
