"""Export a trained icar_mm detector, segmentor or recogniser to ONNX, with its vocabulary
baked in or given at run time.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx \\
        [--classes "sky,road,tree" | --vocabulary ade20k_150 | --class-weights refined.pth] \\
        [--vocabulary-input] [--size H W] [--device cpu] [--cfg-options k=v ...]
    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --class-embeddings vocab.npz --classes "a,b,c"

The first writes ``model.onnx`` and ``model.onnx.json`` (task, input and output
shapes, mean and std, classes): without ``--vocabulary-input`` the class
embeddings of the named vocabulary (default: the checkpoint's) are constants
of the graph; with it they are its second input, ``class_embeddings`` [C, D].
The second writes only that input for a vocabulary (``embeddings`` and
``classes``, as numpy reads them), to run a ``--vocabulary-input`` export on
new classes without exporting it again. See icar_mm/deployment.py.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from _common import add_vocabulary_args, init_model_from_args, requested_vocabulary, user_errors  # noqa: E402


def parse_args():
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument('--out', help='the ONNX file to write (and OUT.json beside it)')
    what.add_argument('--class-embeddings', metavar='FILE.npz', help="write only the vocabulary's class embeddings")
    add_vocabulary_args(parser, example='ade20k_150')
    parser.add_argument('--vocabulary-input', action='store_true', help='class embeddings as the second input')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: as trained)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries, key=value')
    return parser.parse_args()


def main():
    args = parse_args()
    from icar_mm.deployment import export_onnx, save_class_embeddings

    model = init_model_from_args(args, requested_vocabulary(args))
    with user_errors():
        if args.class_embeddings:
            save_class_embeddings(args.class_embeddings, model)
            print(f'class embeddings of {len(model.dataset_meta["classes"])} classes: {args.class_embeddings}')
            return
        info = export_onnx(model, args.out, vocabulary_input=args.vocabulary_input, size=args.size)
    shapes = ', '.join(f'{k} {v}' for k, v in info['inputs'].items())
    print(f'{info["task"]} model: {args.out} ({shapes} -> {", ".join(info["outputs"])}); {args.out}.json')


if __name__ == '__main__':
    main()
