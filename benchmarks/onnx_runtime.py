"""An exported detector, segmentor and recogniser in onnxruntime vs the same
model in PyTorch (the graph's own forward, eager), on the same CPU threads and
inputs, in the same process; and what switching the vocabulary of a deployed
model costs: encoding the new names (the exported text tower in onnxruntime,
tools/deployment/onnx_text.py; and the PyTorch tower) and the first run with
them as the graph's input, no re-export.

    python benchmarks/onnx_runtime.py                     # the OV-COCO, ADE20K and Kinetics configs, real size
    python benchmarks/onnx_runtime.py --export-only       # the same, exported and checked (onnx.checker) only
    python benchmarks/onnx_runtime.py --tiny --repeats 3  # the test suite's tiny models (a smoke check)

Models are built at random init (RoBERTa-base's architecture with a tokenizer
trained offline for the iCAR text tower, as benchmarks/real_size.py does).
"""

import argparse
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'deployment'))

import torch  # noqa: E402
from common import add_json_option, paired_medians, result, write_results  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS = {  # task -> (shipped config, its vocabulary (None: the config's), tiny test config, the one it switches to)
    'detection': (
        'configs/detection/mask-rcnn_icar-swin-t_fpn_cosine_1x_ov-coco.py',
        None,
        'tests/configs/tiny_ov_mask_rcnn.py',
        ['zebra', 'hot air balloon', 'umbrella'],
    ),
    'segmentation': (
        'configs/segmentation/upernet_icar-swin-t_cosine_8xb2-160k_ade20k-512x512.py',
        'ade20k_150',
        'tests/configs/tiny_upernet.py',
        ['sky', 'road', 'tree', 'person', 'car'],
    ),
    'recognition': (
        'configs/recognition/swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py',
        'kinetics400',
        'tests/configs/tiny_video_swin.py',
        ['skateboarding', 'surfing water', 'juggling balls'],
    ),
}


def build(task, args, tmp):
    from icar_mm.apis import init_model

    shipped, vocabulary, tiny, _ = MODELS[task]
    if args.tiny:
        return init_model(osp.join(REPO, tiny), None, vocabulary='synthetic', device='cpu')
    from real_size import roberta_base_dir, weight_overrides

    from icar_mm.apis import load_config

    cfg = load_config(osp.join(REPO, shipped))
    cfg.merge_from_dict(weight_overrides(cfg.model, roberta_base_dir(tmp), frozen=True))
    return init_model(cfg, None, vocabulary=vocabulary, device='cpu')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tiny', action='store_true', help="the test suite's tiny models")
    parser.add_argument('--export-only', action='store_true', help='export and check each model, run nothing')
    parser.add_argument('--tasks', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    add_json_option(parser)
    args = parser.parse_args()
    import onnxruntime
    from onnx_text import vocabulary_embeddings

    from icar_mm.apis import set_vocabulary
    from icar_mm.deployment import ExportGraph, class_embeddings_of, example_input, export_onnx

    torch.set_num_threads(args.threads)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            new_vocabulary = MODELS[task][-1]
            model = build(task, args, tmp)
            path = osp.join(tmp, f'{task}.onnx')
            start = time.perf_counter()
            info = export_onnx(model, path, vocabulary_input=True)
            export_s = time.perf_counter() - start
            sizes = {f: osp.getsize(osp.join(tmp, f)) / 2**20 for f in (f'{task}.onnx', info['text']['model'])}
            shapes = ', '.join(f'{k} {v}' for k, v in info['inputs'].items())
            print(f'{task}: {shapes} -> {", ".join(info["outputs"])}; export {export_s:.1f} s, checked', flush=True)
            print('  ' + ', '.join(f'{f} {mib:.0f} MiB' for f, mib in sizes.items()), flush=True)
            if args.export_only:
                continue
            session = onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
            names, embeddings = class_embeddings_of(model)
            graph = ExportGraph(model, task).eval()
            x = example_input(model, task)
            feeds = {session.get_inputs()[0].name: x.numpy(), 'class_embeddings': embeddings}

            def eager(x=x, graph=graph, weights=torch.from_numpy(embeddings)):
                with torch.no_grad():
                    graph(x, weights)

            def deployed(session=session, feeds=feeds):
                session.run(None, feeds)

            torch_s, ort_s, ratio = paired_medians(eager, deployed, args.repeats, warmup=1)
            start = time.perf_counter()
            _, new = vocabulary_embeddings(path, new_vocabulary, options)  # the exported text tower
            session.run(None, {**feeds, 'class_embeddings': new})
            deployed_switch_s = time.perf_counter() - start
            start = time.perf_counter()
            set_vocabulary(model, new_vocabulary)
            class_embeddings_of(model)  # the PyTorch tower encodes the new names
            eager()
            torch_switch_s = time.perf_counter() - start
            print(f'  {len(names)} classes; per input: PyTorch {torch_s:.3f} s, onnxruntime {ort_s:.3f} s', end='')
            print(f' ({ratio:.2f}x)')
            print(
                f'  vocabulary switch to {len(new)} classes, no re-export: encode + first run {deployed_switch_s:.2f} s'
                f' (onnxruntime text tower); in PyTorch {torch_switch_s:.2f} s'
            )
            rows.append(result(f'{task}: per input, onnxruntime vs PyTorch', torch_s, ort_s, 's', ratio))
            switch = f'{task}: vocabulary switch, onnxruntime vs PyTorch text tower'
            rows.append(result(switch, torch_switch_s, deployed_switch_s, 's'))
    write_results(args.json, rows)


if __name__ == '__main__':
    main()
