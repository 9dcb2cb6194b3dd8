"""A web demo: detect, segment or recognise any classes, typed at run time, with a trained icar_mm model.

    python tools/demo_app.py [--work-dir work_dirs/quickstart]
                             [--model CONFIG CHECKPOINT] [--config CONFIG --checkpoint CKPT] [...]
                             [--host 127.0.0.1] [--port 7860] [--max-upload-mb 20] [--device cpu]

Needs the demo extra: ``pip install -r requirements/demo.txt`` (Gradio). Pick a
model, type class names separated by commas, give an image (a video for a
recogniser) and see the detections (boxes and masks, mmdet's
DetLocalVisualizer), the segmentation (colour mask and legend, as
tools/segment.py draws it) or the top actions (on the middle frame, as
tools/recognize.py draws them), with labels and scores as JSON. Models are
loaded once and kept; a new vocabulary costs one text encoding (cached per
vocabulary by the classifier) and a forward pass.

Without --model / --config it serves every model trained under --work-dir
(default work_dirs/quickstart, as tools/quickstart.py writes it): each folder
holding an mmengine config dump and a checkpoint (``last_checkpoint``, else
the newest epoch_/iter_ file) of a detector, segmentor or recogniser. It
listens on 127.0.0.1 unless --host says otherwise, never opens a public share
link and sends no analytics.
"""

import argparse
import glob
import logging
import os
import os.path as osp
import sys
import threading
import time
from types import SimpleNamespace
from typing import List, NamedTuple, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import IMAGE_SUFFIXES, REPO, VIDEO_SUFFIXES, list_images, list_videos, requested_vocabulary, user_errors  # noqa: E402
from _drawing import DRAW  # noqa: E402

logger = logging.getLogger('icar_mm.demo')
DEFAULT_WORK_DIR = osp.join(REPO, 'work_dirs', 'quickstart')
# per task: the score threshold's default, as the command-line tools have it
DEFAULT_THRESHOLDS = dict(detection=0.3, segmentation=0.0, recognition=0.0)


class Entry(NamedTuple):
    label: str  # as the model menu shows it
    config: str
    checkpoint: str
    task: str


# --- finding the models -------------------------------------------------------------------
def checkpoint_in(folder: str) -> Optional[str]:
    """mmengine's ``last_checkpoint`` record (its file name looked up here when
    the folder was moved), else the newest epoch_/iter_ checkpoint."""
    record = osp.join(folder, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            saved = f.read().strip()
        for path in (saved, osp.join(folder, osp.basename(saved))):
            if saved and osp.isfile(path):
                return path
    files = glob.glob(osp.join(folder, 'epoch_*.pth')) + glob.glob(osp.join(folder, 'iter_*.pth'))
    return max(files, key=osp.getmtime) if files else None


def predicting_task(cfg) -> Optional[str]:
    """The task of a config whose model is a host detector, segmentor or
    recogniser; None for anything else (e.g. the quickstart's iCAR pre-trainer,
    which also runs in mmdet's scope)."""
    from mmengine.registry import DefaultScope

    from icar_mm.apis.inference import TASKS

    scope = cfg.get('default_scope')
    if scope not in TASKS or not isinstance(cfg.get('model'), dict):
        return None
    if scope == 'mmdet':
        from mmdet.models.detectors import BaseDetector as base
        from mmdet.registry import MODELS
    elif scope == 'mmseg':
        from mmseg.models.segmentors import BaseSegmentor as base
        from mmseg.registry import MODELS
    else:
        from mmaction.models.recognizers import BaseRecognizer as base
        from mmaction.registry import MODELS
    try:
        with DefaultScope.overwrite_default_scope(scope):
            model_type = MODELS.get(cfg.model.get('type'))
    except Exception:  # an unknown or unimportable type: not offered
        return None
    return TASKS[scope] if isinstance(model_type, type) and issubclass(model_type, base) else None


def find_models(work_dir: str, max_depth: int = 3) -> List[Entry]:
    """The trained models under ``work_dir``, in training order (checkpoint time)."""
    from mmengine.config import Config

    found = []
    root = osp.abspath(work_dir)
    for folder, dirs, files in os.walk(root):
        rel = osp.relpath(folder, root)
        depth = 0 if rel == '.' else rel.count(os.sep) + 1
        dirs[:] = sorted(d for d in dirs if not d.startswith('.')) if depth < max_depth else []
        configs = sorted(f for f in files if f.endswith('.py'))
        checkpoint = checkpoint_in(folder) if configs else None
        if checkpoint is None:
            continue
        for name in configs:
            try:
                task = predicting_task(Config.fromfile(osp.join(folder, name)))
            except Exception as e:  # not a config mmengine reads: skipped with a warning
                logger.warning('skipping %s: %s', osp.join(folder, name), e)
                continue
            if task is not None:
                where = osp.basename(root) if rel == '.' else rel
                found.append(
                    Entry(f'{where} ({task}, {osp.basename(checkpoint)})', osp.join(folder, name), checkpoint, task)
                )
    return sorted(found, key=lambda e: osp.getmtime(e.checkpoint))


def given_models(pairs) -> List[Entry]:
    """--model / --config --checkpoint pairs, each checked to be a config of one of the three tasks."""
    from mmengine.config import Config

    from icar_mm.apis import task_of

    entries = []
    for config, checkpoint in pairs:
        for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
            if not osp.isfile(path):
                raise SystemExit(f'{what} {path}: no such file.')
        try:
            cfg = Config.fromfile(config)
            task = task_of(cfg)
        except ValueError as e:
            raise SystemExit(f'{config}: {e}') from None
        if predicting_task(cfg) is None:
            raise SystemExit(
                f'{config}: its model ({cfg.model.get("type")}) is no detector, segmentor or '
                'recogniser of mmdet, mmseg or mmaction2.'
            )
        label = f'{osp.splitext(osp.basename(config))[0]} ({task}, {osp.basename(checkpoint)})'
        entries.append(Entry(label, osp.abspath(config), osp.abspath(checkpoint), task))
    return entries


class ModelCache:
    """Models by (config, checkpoint), loaded on first use and kept: switching
    models or vocabularies never reloads weights."""

    def __init__(self, entries: List[Entry], device: Optional[str]):
        self.entries = {}
        for e in entries:  # two menu entries must not share a label
            label, n = e.label, 1
            while label in self.entries:
                n += 1
                label = f'{e.label} #{n}'
            self.entries[label] = e._replace(label=label)
        self.device = device
        self.lock = threading.Lock()  # one model call at a time: they share the models' state
        self._models = {}

    def get(self, label: str):
        """(entry, model, seconds spent loading it now)."""
        from icar_mm.apis import init_model

        if label not in self.entries:
            raise ValueError(f'Unknown model {label!r}; choose one from the menu.')
        entry = self.entries[label]
        key = (entry.config, entry.checkpoint)
        start = time.time()
        if key not in self._models:
            logger.info('loading %s from %s', entry.config, entry.checkpoint)
            self._models[key] = init_model(entry.config, entry.checkpoint, device=self.device)
        return entry, self._models[key], time.time() - start


# --- checking uploads -----------------------------------------------------------------------
def refusal(path: str, task: str, max_mb: float) -> Optional[str]:
    """Why an upload is refused (too large, not an image, not a video); None when it is fine."""
    name = osp.basename(path)
    size = osp.getsize(path) / 2**20
    if size > max_mb:
        return f'{name} is {size:.1f} MB; this demo takes files of at most {max_mb:g} MB (--max-upload-mb).'
    suffix = osp.splitext(path)[1].lower()
    wanted = 'a video' if task == 'recognition' else 'an image'
    if suffix in (IMAGE_SUFFIXES if task == 'recognition' else VIDEO_SUFFIXES):
        return f'{name} looks like {"an image" if task == "recognition" else "a video"}; a {task} model takes {wanted}.'
    try:  # decoded here, as the tools check their inputs: the package's message names what the file holds
        (list_videos if task == 'recognition' else list_images)([path])
    except SystemExit as e:
        return str(e).replace(path, name)  # the upload's name, not Gradio's temporary path
    return None


# --- drawing, as the tools draw ---------------------------------------------------------------


# --- the page ---------------------------------------------------------------------------------
def build_app(models: ModelCache, max_mb: float, examples: List[str]):
    import gradio as gr

    from icar_mm.apis import class_names, inference

    def refuse(message: str) -> str:
        gr.Warning(message)  # a toast; the message box keeps it
        return message

    def describe(label):
        """Load a model (once): its vocabulary for the box, its task's threshold and a status line."""
        with models.lock, user_errors():
            entry, model, seconds = models.get(label)
        loaded = f'loaded in {seconds:.1f} s' if seconds > 0.05 else 'ready'
        wanted = 'a video' if entry.task == 'recognition' else 'an image'
        return (
            ', '.join(class_names(model)),
            DEFAULT_THRESHOLDS[entry.task],
            f'{entry.label}: {loaded}. Type class names, give {wanted}, press Run.',
        )

    def choose(label):
        try:
            return describe(label)
        except SystemExit as e:
            return gr.update(), gr.update(), refuse(str(e))
        except Exception as e:  # not the user's to fix: named here, traceback in the server's log
            logger.exception('loading %s failed', label)
            return gr.update(), gr.update(), refuse(f'{type(e).__name__}: {e} (the traceback is in the server log)')

    def check_upload(path, label):
        entry = models.entries.get(label)
        reason = refusal(path, entry.task if entry else 'detection', max_mb) if path else None
        if reason:
            return None, refuse(f'Refused: {reason}')  # the file is dropped, the page stays as it was
        return gr.update(), f'{osp.basename(path)}: ok, press Run.' if path else ''

    def run(label, text, path, thr):
        if not path:
            return None, None, refuse('Give an image (or a video for a recognition model) first.')
        try:
            with models.lock, user_errors():
                entry, model, load_seconds = models.get(label)
                reason = refusal(path, entry.task, max_mb)
                if reason:
                    return None, None, refuse(f'Refused: {reason}')
                # names split as --classes splits them; a line break counts as a comma
                vocabulary = requested_vocabulary(SimpleNamespace(classes=(text or '').replace('\n', ',')))
                start = time.time()
                sample = inference(model, path, vocabulary=vocabulary)
                seconds = time.time() - start
                image, result, what = DRAW[entry.task](model, sample, path, float(thr))
        except SystemExit as e:  # what the user can fix: the package's message
            return None, None, refuse(str(e).replace(path, osp.basename(path)))
        except Exception as e:  # anything else: named here, traceback in the server's log
            logger.exception('inference failed')
            return None, None, refuse(f'{type(e).__name__}: {e} (the traceback is in the server log)')
        loaded = f', model loaded in {load_seconds:.1f} s' if load_seconds > 0.05 else ''
        return image, result, f'{what}; inference {seconds:.2f} s{loaded}.'

    labels = list(models.entries)
    first = labels[0]
    try:  # the first model loads before the page is served
        vocabulary, thr, status = describe(first)
    except Exception as e:  # the page still serves the other models
        logger.error('loading %s failed: %s', first, e)
        vocabulary, thr, status = '', 0.3, str(e)
    # uploads and results are kept an hour at most
    with gr.Blocks(title='icar_mm open-vocabulary demo', analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(
            '## icar_mm: detect, segment or recognise any classes\n'
            'Choose a model, type class names separated by commas, give an image '
            '(a video for a recognition model) and press **Run**. Changing only the names '
            'reloads nothing: models stay loaded, each vocabulary is encoded once.'
        )
        with gr.Row():
            with gr.Column(scale=2):
                model_box = gr.Dropdown(labels, value=first, label='model', elem_id='model')
                vocab_box = gr.Textbox(
                    value=vocabulary, lines=2, label='vocabulary (comma-separated class names)', elem_id='vocabulary'
                )
                thr_box = gr.Slider(
                    0,
                    1,
                    value=thr,
                    step=0.05,
                    label='score threshold (boxes / pixels / actions below it are left out)',
                    elem_id='threshold',
                )
                file_box = gr.File(
                    label=f'image or video (at most {max_mb:g} MB)',
                    type='filepath',
                    file_types=list(IMAGE_SUFFIXES + VIDEO_SUFFIXES),
                    elem_id='input',
                )
                run_button = gr.Button('Run', variant='primary', elem_id='run')
                if examples:
                    gr.Examples([[p] for p in examples], inputs=[file_box], label='example images')
            with gr.Column(scale=3):
                message_box = gr.Textbox(value=status, label='message', interactive=False, elem_id='message')
                image_box = gr.Image(label='result', type='numpy', format='png', interactive=False, elem_id='result')
                json_box = gr.JSON(label='labels and scores', elem_id='labels')
        model_box.change(choose, [model_box], [vocab_box, thr_box, message_box])
        file_box.upload(check_upload, [file_box, model_box], [file_box, message_box])
        file_box.clear(lambda: '', None, message_box)
        outputs = [image_box, json_box, message_box]
        run_button.click(run, [model_box, vocab_box, file_box, thr_box], outputs)
        vocab_box.submit(run, [model_box, vocab_box, file_box, thr_box], outputs)
    return app


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--work-dir',
        help=f'serve the models trained under it (default, when no --model/--config: {osp.relpath(DEFAULT_WORK_DIR)})',
    )
    parser.add_argument(
        '--model',
        nargs=2,
        action='append',
        default=[],
        metavar=('CONFIG', 'CHECKPOINT'),
        help='a model to serve (repeatable)',
    )
    parser.add_argument(
        '--config', action='append', default=[], help='with --checkpoint, paired in the order given (repeatable)'
    )
    parser.add_argument('--checkpoint', action='append', default=[])
    parser.add_argument('--host', default='127.0.0.1', help='default 127.0.0.1 (this machine only); 0.0.0.0 for all')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--max-upload-mb', type=float, default=20, help='larger uploads are refused (default 20)')
    parser.add_argument('--device', help='default: cuda:0 when available, else cpu')
    args = parser.parse_args()
    if len(args.config) != len(args.checkpoint):
        parser.error(f'{len(args.config)} --config but {len(args.checkpoint)} --checkpoint: give them in pairs.')
    if args.max_upload_mb <= 0:
        parser.error('--max-upload-mb must be positive.')
    return args


def main():
    args = parse_args()
    logging.basicConfig(format='%(asctime)s %(name)s: %(message)s')
    logger.setLevel(logging.INFO)
    os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'  # read when gradio is imported: no telemetry, no version check
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise SystemExit('The web demo needs Gradio: pip install -r requirements/demo.txt') from None

    entries = given_models(list(args.model) + list(zip(args.config, args.checkpoint)))
    work_dir = args.work_dir or (None if entries else DEFAULT_WORK_DIR)
    examples = []
    if work_dir is not None:
        if not osp.isdir(work_dir):
            raise SystemExit(
                f'--work-dir {work_dir}: no such folder. Train the quickstart first (make quickstart) '
                'or give models with --model CONFIG CHECKPOINT.'
            )
        found = find_models(work_dir)
        if not found:
            raise SystemExit(
                f'No trained detector, segmentor or recogniser (a config dump with a checkpoint) '
                f'under {work_dir}; give models with --model CONFIG CHECKPOINT.'
            )
        entries += found
        # the quickstart's held-out scenes, offered as examples
        examples = sorted(glob.glob(osp.join(work_dir, 'data', 'detection', 'images', 'val', '*.jpg')))[:4]
    for e in entries:
        print(f'model: {e.label}\n    config {e.config}\n    checkpoint {e.checkpoint}')

    models = ModelCache(entries, args.device)
    app = build_app(models, args.max_upload_mb, examples)
    app.queue(default_concurrency_limit=1)
    # share=False: never a public link; quiet: gradio's banner would suggest one
    try:
        app.launch(
            server_name=args.host,
            server_port=args.port,
            share=False,
            inbrowser=False,
            ssr_mode=False,
            max_file_size=int(args.max_upload_mb * 2**20),
            footer_links=[],
            run_history=False,
            allowed_paths=[osp.abspath(p) for p in examples],
            quiet=True,
            prevent_thread_lock=True,
        )
    except OSError as e:  # the port is taken
        raise SystemExit(f'Cannot serve on {args.host}:{args.port} ({e}); choose another --port.') from None
    print(f'demo running at {app.local_url} (Ctrl+C to stop)', flush=True)
    app.block_thread()


if __name__ == '__main__':
    main()
