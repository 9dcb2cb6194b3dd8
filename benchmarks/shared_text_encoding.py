"""A trainable text tower's class embeddings for one training step (one
template per class, forward and backward), per process: one process encoding
every class (baseline) against N processes (gloo) each encoding its share and
gathering the embeddings with gradients (ours). Every process gets the same
number of threads, so the ratio is the work each one is spared.

    python benchmarks/shared_text_encoding.py                        # 400 Kinetics classes, RoBERTa-base
    python benchmarks/shared_text_encoding.py --tower tiny --classes 100 --repeats 2
"""

import argparse
import os.path as osp
import socket
import statistics
import sys
import tempfile
import time

import torch
import torch.multiprocessing as mp

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import add_json_option, result, write_results  # noqa: E402


def step_times(rank, world, port, args, tower_dir, out):
    import torch.distributed as dist

    from icar_mm.classifier import TextCosineClassifier
    from icar_mm.text.vocabulary import load_vocabulary

    torch.set_num_threads(args.threads)
    if world > 1:
        dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.manual_seed(0)
    encoder = (
        dict(type='icar_mm.ICARTextEncoder', model_path=tower_dir, frozen=False)
        if tower_dir
        else dict(type='icar_mm.OpenCLIPTextEncoder', model_name='tiny-random-clip', frozen=False)
    )
    names = load_vocabulary('kinetics400').names[: args.classes]
    classifier = TextCosineClassifier(text_encoder=encoder, vocabulary=names, templates='video28', enriched=False)
    classifier.train()

    def step():
        classifier.zero_grad()
        classifier.class_embeddings().sum().backward()

    step()  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    if rank == 0:
        torch.save(times, out)
    if world > 1:
        dist.destroy_process_group()


def measure(world, args, tower_dir):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'times.pt')
        mp.spawn(step_times, args=(world, port, args, tower_dir, out), nprocs=world)
        return statistics.median(torch.load(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--classes', type=int, default=400)
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1, help='torch threads per process')
    parser.add_argument('--tower', choices=['roberta-base', 'tiny'], default='roberta-base')
    parser.add_argument('--repeats', type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tower_dir = None
        if args.tower == 'roberta-base':
            from real_size import roberta_base_dir

            tower_dir = roberta_base_dir(tmp)
        one, shared = measure(1, args, tower_dir), measure(args.processes, args, tower_dir)
    print(f'{args.classes} classes, trainable {args.tower} tower, {args.threads} thread(s) per process')
    print(f'  1 process:   {one:.2f} s per step')
    print(f'  {args.processes} processes: {shared:.2f} s per step and process ({one / shared:.2f}x less)')
    write_results(args.json, [result(f'text step, {args.processes} processes vs 1', one, shared, 's')])


if __name__ == '__main__':
    main()
