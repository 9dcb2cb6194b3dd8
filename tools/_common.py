"""Command-line plumbing the tools share: argument sets, input listing, progress
and user-facing errors. The library they call is :mod:`icar_mm.apis`."""

import contextlib
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:  # the tools run from a checkout, installed or not
    sys.path.insert(0, REPO)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.flv', '.wmv')


def parse_tool_args(parser):
    """Add the flags tools/train.py, tools/test.py and tools/refine_class_weights.py
    share (--cfg-options, --launcher, --local-rank) and parse; LOCAL_RANK is
    exported for launchers."""
    from mmengine.config import DictAction

    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (e.g. train_cfg.max_iters=10)',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def add_vocabulary_args(parser, example: str, class_weights: bool = True) -> None:
    """--classes / --vocabulary [/ --class-weights], one of them at most."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--classes', help='comma-separated class names, e.g. "zebra,hot air balloon"')
    group.add_argument('--vocabulary', help=f'a shipped vocabulary name (e.g. {example}) or a .txt/.json file')
    if class_weights:
        group.add_argument(
            '--class-weights',
            metavar='FILE',
            help='an exported or refined class-weights file (tools/refine_class_weights.py)',
        )


def add_inference_args(
    parser, inputs: str, example_vocabulary: str, out_dir: str, score_thr: float = None, score_help: str = ''
) -> None:
    """The arguments tools/detect.py, tools/segment.py and tools/recognize.py
    share: CONFIG CHECKPOINT INPUTS..., the vocabulary, device, config
    overrides, the output folder and a score threshold."""
    from mmengine.config import DictAction

    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', nargs='+', metavar=inputs.upper(), help=f'{inputs} files or folders')
    add_vocabulary_args(parser, example_vocabulary)
    parser.add_argument('--device', help='default: cuda:0 when available, else cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries, key=value')
    parser.add_argument('--out-dir', default=out_dir, help=f'default: {out_dir}')
    parser.add_argument('--score-thr', type=float, default=score_thr, help=f'{score_help} (default: {score_thr})')


def requested_vocabulary(args):
    """What --classes, --vocabulary or --class-weights asked for; None for the
    checkpoint's vocabulary."""
    if getattr(args, 'classes', None) is not None:
        return [c.strip() for c in args.classes.split(',') if c.strip()]  # none left: an empty vocabulary
    weights = getattr(args, 'class_weights', None)
    if weights is not None:
        from icar_mm.apis.inference import VOCABULARY_SUFFIXES, is_class_weights_file

        if not osp.isfile(weights):
            raise SystemExit(f'--class-weights {weights}: no such file.')
        if weights.lower().endswith(VOCABULARY_SUFFIXES) or not is_class_weights_file(weights):
            raise SystemExit(
                f'--class-weights {weights}: not a class-weights file (write one with '
                'tools/refine_class_weights.py or TextCosineClassifier.export_class_weights); '
                'vocabulary files go to --vocabulary.'
            )
        return weights
    return getattr(args, 'vocabulary', None)


def _expand(paths, suffixes, what: str) -> list:
    files = []
    for path in paths:
        if osp.isdir(path):
            found = sorted(osp.join(path, f) for f in os.listdir(path) if f.lower().endswith(suffixes))
            if not found:
                raise SystemExit(f'No {what} files ({", ".join(suffixes)}) in the folder {path}.')
            files += found
        else:
            files.append(path)
    missing = [p for p in files if not osp.isfile(p)]
    if missing:
        raise SystemExit(f'{what.capitalize()} files not found: {missing[:5]}')
    return files


def list_images(paths) -> list:
    """Image files of the given files and folders (folders expanded in sorted
    order); missing or undecodable files stop the tool with their names,
    before any model is built."""
    import cv2

    from icar_mm.datasets.images import describe_unreadable

    images = _expand(paths, IMAGE_SUFFIXES, 'image')
    unreadable = [p for p in images if cv2.imread(p, cv2.IMREAD_UNCHANGED) is None]
    if unreadable:
        raise SystemExit('\n'.join(describe_unreadable(p) for p in unreadable[:5]))
    return images


def init_model_from_args(args, vocabulary):
    """The model the shared flags name (CONFIG CHECKPOINT --device --cfg-options),
    with ``vocabulary`` (from :func:`requested_vocabulary`); user errors without a traceback."""
    from icar_mm.apis import init_model

    with user_errors():
        return init_model(
            args.config, args.checkpoint, vocabulary=vocabulary, device=args.device, cfg_options=args.cfg_options
        )


def list_videos(paths) -> list:
    """Video files of the given files and folders; missing files, or files no
    video back-end opens, stop the tool with their names."""
    from icar_mm.apis.inference import check_video
    from icar_mm.datasets.video import VideoReadError

    videos = _expand(paths, VIDEO_SUFFIXES, 'video')
    for path in videos:
        try:
            check_video(path)
        except VideoReadError as e:
            raise SystemExit(str(e)) from None
    return videos


@contextlib.contextmanager
def user_errors():
    """Stop with the message, not a traceback, for what the user can fix:
    a bad checkpoint, vocabulary, class-weights file or input."""
    from icar_mm.checkpoints import CheckpointError
    from icar_mm.datasets.images import ImageReadError

    try:
        yield
    except (CheckpointError, ImageReadError, FileNotFoundError, KeyError, ValueError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise SystemExit(f'{type(e).__name__}: {message}') from None
    except RuntimeError as e:
        if type(e).__name__ != 'VideoReadError':
            raise
        raise SystemExit(f'VideoReadError: {e}') from None


def progress(items):
    """Iterate, with mmengine's progress bar (on stderr: stdout keeps the
    results) when there are several items."""
    if len(items) < 2:
        yield from items
        return
    from mmengine.utils import ProgressBar

    bar = ProgressBar(len(items), file=sys.stderr)
    for item in items:
        yield item
        bar.update()
    sys.stderr.write('\n')


def write_json(path: str, data) -> None:
    import json

    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)
