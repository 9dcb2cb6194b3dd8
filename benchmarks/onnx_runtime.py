"""An exported segmentor and recogniser in onnxruntime vs the same model in
PyTorch (the graph's own forward, eager), on the same CPU threads and inputs,
in the same process; and what switching the vocabulary of a deployed model
costs: encoding the new class embeddings (the text tower, in PyTorch) once,
then the same run with them as the graph's input.

    python benchmarks/onnx_runtime.py                     # the ADE20K and Kinetics configs' models, real size
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

import torch  # noqa: E402
from common import add_json_option, paired_medians, result, write_results  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS = {  # task -> (shipped config, its vocabulary, tiny test config, the vocabulary it switches to)
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
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    add_json_option(parser)
    args = parser.parse_args()
    import onnxruntime

    from icar_mm.apis import set_vocabulary
    from icar_mm.deployment import ExportGraph, class_embeddings_of, example_input, export_onnx

    torch.set_num_threads(args.threads)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, (*_, new_vocabulary) in MODELS.items():
            model = build(task, args, tmp)
            path = osp.join(tmp, f'{task}.onnx')
            start = time.perf_counter()
            export_onnx(model, path, vocabulary_input=True)
            export_s = time.perf_counter() - start
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
            set_vocabulary(model, new_vocabulary)
            _, new = class_embeddings_of(model)  # the text tower encodes the new names
            session.run(None, {**feeds, 'class_embeddings': new})
            switch_s = time.perf_counter() - start
            print(f'{task}: {len(names)} classes, input {list(x.shape)}; export {export_s:.1f} s')
            print(f'  per input: PyTorch {torch_s:.3f} s, onnxruntime {ort_s:.3f} s ({ratio:.2f}x)')
            print(f'  vocabulary switch to {len(new)} classes (encode + first run): {switch_s:.2f} s, no re-export')
            rows.append(result(f'{task}: per input, onnxruntime vs PyTorch', torch_s, ort_s, 's', ratio))
    write_results(args.json, rows)


if __name__ == '__main__':
    main()
