"""Timing and memory helpers shared by the head benchmarks."""
import resource
import statistics
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
