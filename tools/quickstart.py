"""The main job: the whole iCAR method on the embedded open-vocabulary world,
offline, on CPU, in minutes.

    python tools/quickstart.py [--work-dir work_dirs/quickstart] [--tasks detection segmentation action]
                               [--pretrain-iters 600] [--schedule 1.0] [--skip-baseline] [--threads 2]
    python tools/quickstart.py --ablation [--variants ic-pretrain clip-pretrain ...]

1. write the world (icar_mm.datasets.synthetic): colour-shape scenes with
   boxes and masks, and clips of shapes that slide, grow, shrink or blink;
   training labels of base classes only (novel classes appear in the pictures
   and in the pre-training's captions, never as training labels);
2. pre-train once with the iCAR objective (configs/quickstart/icar-pretrain_*):
   one image encoder, one shared text encoder, image-label + image-text losses;
   a linear probe of colour and shape on the image encoder at the end;
3. fine-tune each task from that checkpoint and, for comparison, without it,
   through tools/train.py and the configs under configs/quickstart/, and
   evaluate base and novel classes at the end of training: detection (novel
   AP50), semantic segmentation (unseen mIoU), action recognition (novel top-1);
4. draw held-out examples with a vocabulary that includes the novel classes,
   and one overview that puts the three tasks side by side;
5. print the table and write summary.json.

--ablation runs the paper's comparison instead: each pre-training of VARIANTS
(image classification, image-text alignment, shallow fusion, iCAR's deep
fusion with and without descriptions), probed and fine-tuned on every task;
one table, and ablation.json.

The terminal shows one line per stage; each stage's full log and config are
in the work directory (named on its line).
"""

import argparse
import contextlib
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
import warnings
from typing import NamedTuple, Tuple

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import REPO  # noqa: E402

# the hosts' own deprecation notices are not the user's to act on; the stages' logs keep theirs
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

CONFIGS = osp.join(REPO, 'configs', 'quickstart')
PRETRAIN = osp.join(CONFIGS, 'icar-pretrain_swin-tiny_synthetic.py')
# fine-tuning seeds per task in the ablation: action's 20 novel val clips make its top-1 move in
# steps of 5 points, and its runs are the shortest
ABLATION_SEEDS = dict(action=3)
# the paper's comparison (--ablation): (row, pre-training config), each fine-tuned like the default
VARIANTS = (
    ('image classification only', osp.join(CONFIGS, 'ic-pretrain_swin-tiny_synthetic.py')),
    ('image-text alignment only', osp.join(CONFIGS, 'clip-pretrain_swin-tiny_synthetic.py')),
    ('shallow fusion', osp.join(CONFIGS, 'shallow-fusion-pretrain_swin-tiny_synthetic.py')),
    ('iCAR deep fusion', PRETRAIN),
    ('deep fusion, no descriptions', osp.join(CONFIGS, 'icar-pretrain-no-descriptions_swin-tiny_synthetic.py')),
)


class Task(NamedTuple):
    name: str
    config: str
    data: str  # the folder of its world under <work-dir>/data
    weights: Tuple[str, ...]  # the config fields the iCAR checkpoint feeds
    classifiers: Tuple[str, ...]  # its text-generated classifiers (their prompts follow the pre-training's)
    novel: Tuple[str, str]  # (metric key, table heading)
    base: Tuple[str, str]
    percent: bool  # metric in [0, 1] (shown x100) rather than already in %


TASKS = {
    'detection': Task(
        'detection',
        osp.join(CONFIGS, 'ov-mask-rcnn_icar-swin-tiny_synthetic.py'),
        'detection',
        ('model.backbone.checkpoint', 'model.roi_head.bbox_head.classifier.text_encoder.checkpoint'),
        ('model.roi_head.bbox_head.classifier',),
        ('coco/novel_ap50', 'novel AP50'),
        ('coco/base_ap50', 'base AP50'),
        True,
    ),
    'segmentation': Task(
        'segmentation',
        osp.join(CONFIGS, 'ov-upernet_icar-swin-tiny_synthetic.py'),
        'segmentation',
        ('model.backbone.checkpoint', 'model.decode_head.classifier.text_encoder.checkpoint'),
        ('model.decode_head.classifier', 'model.auxiliary_head.classifier'),
        ('mIoU_unseen', 'unseen mIoU'),
        ('mIoU_seen', 'seen mIoU'),
        False,
    ),
    'action': Task(
        'action',
        osp.join(CONFIGS, 'ov-video-swin_icar-swin-tiny_synthetic-actions.py'),
        'actions',
        (
            'model.backbone.checkpoint',
            'model.cls_head.classifier.text_encoder.checkpoint',
            'model.cls_head.classifier.projector_checkpoint',
        ),
        ('model.cls_head.classifier',),
        ('acc/novel_top1', 'novel top-1'),
        ('acc/base_top1', 'base top-1'),
        True,
    ),
}
# detections drawn: those scoring at least this, and each picture's best one
DETECTION_SCORE = 0.15
PROGRESS = re.compile(r'(?:Iter\(train\) \[\s*(\d+)/(\d+)\]|Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\])')


def shown(path: str) -> str:
    """A path as the terminal shows it: relative below the current folder."""
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def write_world(root: str, sizes: dict) -> None:
    """Every task's data, deterministic by seed: training sets label base
    classes only, validation sets label every class."""
    from icar_mm.datasets.synthetic import (
        ALL_ACTIONS,
        ALL_CLASSES,
        BASE_ACTIONS,
        BASE_CLASSES,
        write_detection_set,
        write_segmentation_set,
        write_video_set,
    )

    write_detection_set(
        osp.join(root, 'detection'), 'train', num_images=sizes['detection'][0], seed=0, label_classes=BASE_CLASSES
    )
    write_detection_set(osp.join(root, 'detection'), 'val', num_images=sizes['detection'][1], seed=1)
    classes = ('background',) + ALL_CLASSES
    write_segmentation_set(
        osp.join(root, 'segmentation'),
        'train',
        num_images=sizes['segmentation'][0],
        seed=2,
        classes=classes,
        background_class='background',
        label_classes=BASE_CLASSES,
    )
    write_segmentation_set(
        osp.join(root, 'segmentation'),
        'val',
        num_images=sizes['segmentation'][1],
        seed=3,
        classes=classes,
        background_class='background',
    )
    write_video_set(
        osp.join(root, 'actions'),
        'train',
        num_videos=sizes['action'][0],
        seed=4,
        classes=ALL_ACTIONS,
        draw_from=BASE_ACTIONS,
        num_frames=8,
    )
    write_video_set(
        osp.join(root, 'actions'), 'val', num_videos=sizes['action'][1], seed=5, classes=ALL_ACTIONS, num_frames=8
    )


def data_options(task: Task, root: str) -> list:
    """Point a task's config at its world under the work directory."""
    if task.name == 'action':
        return [
            f'{loader}_dataloader.dataset.{key}={root}/{value}'
            for loader, split in (('train', 'train'), ('val', 'val'), ('test', 'val'))
            for key, value in (('ann_file', f'{split}_list.txt'), ('data_prefix.video', f'videos/{split}'))
        ]
    options = [f'{loader}_dataloader.dataset.data_root={root}/' for loader in ('train', 'val', 'test')]
    if task.name == 'detection':
        options += [f'{name}_evaluator.ann_file={root}/annotations/val.json' for name in ('val', 'test')]
    return options


class Stage:
    """Runs a tool in a subprocess, its output into a log file; the terminal
    gets one line (a progress bar while it trains, when it is a terminal)."""

    def __init__(self, work: str, threads: int, schedule: float = 1.0):
        self.work, self.schedule = work, schedule
        self.env = dict(
            os.environ,
            PYTHONUNBUFFERED='1',
            OMP_NUM_THREADS=str(threads),
            MKL_NUM_THREADS=str(threads),
            PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        )
        self.tty = sys.stdout.isatty()
        self.minutes = {}

    def scaled(self, n: int, minimum: int = 8) -> int:
        """A schedule length or world size scaled by ``--schedule``."""
        return max(minimum, int(round(n * self.schedule)))

    def run(self, label: str, log_name: str, script: str, *args, epochs: int = None) -> None:
        log_file = osp.join(self.work, 'logs', f'{log_name}.log')
        os.makedirs(osp.dirname(log_file), exist_ok=True)
        start = time.time()
        line_start = f'{label:<58}'
        print(line_start, end='', flush=True)
        with open(log_file, 'w', buffering=1) as log:  # line-buffered: the log can be followed live
            log.write(f'$ python {osp.relpath(script, REPO)} {" ".join(map(str, args))}\n')
            proc = subprocess.Popen(
                [sys.executable, script, *map(str, args)],
                cwd=REPO,
                env=self.env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for line in proc.stdout:
                log.write(line)
                match = PROGRESS.search(line) if self.tty else None
                if match:
                    self._progress(line_start, match, epochs, time.time() - start)
            code = proc.wait()
        seconds = time.time() - start
        self.minutes[log_name] = round(seconds / 60, 2)
        where = shown(log_file)
        if code:
            with open(log_file) as f:
                tail = f.readlines()[-25:]
            print((f'\r{line_start}' if self.tty else '') + ' FAILED\n' + ''.join('    ' + t for t in tail))
            raise SystemExit(f'{label} failed (exit {code}); full log: {where}')
        print(
            f'\r{line_start}' if self.tty else '',
            f'{seconds / 60:4.1f} min   log: {where}' + ' ' * 10,
            sep='',
            flush=True,
        )

    @staticmethod
    def _progress(line_start, match, epochs, seconds):
        it, total, epoch, step, steps = match.groups()
        done = (
            int(it) / int(total)
            if it is not None
            else (int(epoch) - 1 + int(step) / int(steps)) / (epochs or int(epoch))
        )
        bar = '#' * int(20 * min(done, 1))
        print(f'\r{line_start} [{bar:<20}] {seconds / 60:4.1f} min', end='', flush=True)


def val_metrics(work_dir: str) -> dict:
    """The metrics of the last validation tools/train.py ran (mmengine's
    <work_dir>/<timestamp>/vis_data/<timestamp>.json)."""
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json')), key=osp.getmtime, reverse=True):
        if osp.basename(path) == 'scalars.json':
            continue
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
        evaluated = [r for r in records if not any(k in r for k in ('loss', 'lr', 'base_lr'))]
        if evaluated:
            return evaluated[-1]
    raise SystemExit(f'No validation metrics written under {work_dir}.')


def held_out_examples(task: Task, root: str, num: int) -> list:
    """(input, true class) of held-out examples that show novel classes, and
    the vocabulary they are drawn with (base and novel classes)."""
    from icar_mm.datasets.synthetic import ALL_ACTIONS, ALL_CLASSES, NOVEL_ACTIONS, NOVEL_CLASSES

    if task.name == 'action':
        with open(osp.join(root, 'val_list.txt')) as f:
            clips = [
                (osp.join(root, 'videos', 'val', name), ALL_ACTIONS[int(label)])
                for name, label in (line.split() for line in f if line.strip())
            ]
        novel = [c for c in clips if c[1] in NOVEL_ACTIONS]
        one_each = [next(c for c in novel if c[1] == n) for n in NOVEL_ACTIONS if any(c[1] == n for c in novel)]
        return (one_each + [c for c in novel if c not in one_each])[:num], ALL_ACTIONS
    if task.name == 'detection':
        with open(osp.join(root, 'annotations', 'val.json')) as f:
            ann = json.load(f)
        names = {c['id']: c['name'] for c in ann['categories']}
        novel = {a['image_id'] for a in ann['annotations'] if names[a['category_id']] in NOVEL_CLASSES}
        return [(osp.join(root, 'images', 'val', i['file_name']), None) for i in ann['images'] if i['id'] in novel][
            :num
        ], ALL_CLASSES
    import cv2

    classes = ('background',) + ALL_CLASSES
    novel_ids = [classes.index(n) for n in NOVEL_CLASSES]
    maps = sorted(glob.glob(osp.join(root, 'ann_dir', 'val', '*.png')))
    shown = [m for m in maps if np.isin(cv2.imread(m, cv2.IMREAD_UNCHANGED), novel_ids).any()]
    return [(m.replace('ann_dir', 'img_dir').replace('.png', '.jpg'), None) for m in shown][:num], classes


def ground_truth(task: Task, root: str):
    """``path -> truth`` of a held-out picture, from its split's annotations:
    ``[{name, bbox (x1, y1, x2, y2)}]`` in a detection scene, the sorted class
    names of a segmentation label map (background left out)."""
    if task.name == 'detection':
        with open(osp.join(root, 'annotations', 'val.json')) as f:
            ann = json.load(f)
        names = {c['id']: c['name'] for c in ann['categories']}
        files = {i['id']: i['file_name'] for i in ann['images']}
        objects = {}
        for a in ann['annotations']:
            x, y, w, h = a['bbox']
            objects.setdefault(files[a['image_id']], []).append(
                dict(name=names[a['category_id']], bbox=[x, y, x + w, y + h])
            )
        return lambda path: objects.get(osp.basename(path), [])
    from icar_mm.datasets.synthetic import ALL_CLASSES

    classes = ('background',) + ALL_CLASSES

    def label_map(path):
        ids = np.unique(cv2.imread(path.replace('img_dir', 'ann_dir')[:-4] + '.png', cv2.IMREAD_UNCHANGED))
        return sorted(classes[i] for i in ids if 0 < i < len(classes))

    return label_map


def named_right(task: str, found: dict, truth) -> bool:
    """Whether a picture names what it shows: detection, one box per object
    (IoU >= 0.5) with its class and no other box; segmentation, the classes
    in the legend are those of the label map; recognition, the top-1 is the
    true action."""
    if task == 'action':
        return bool(found['top']) and found['top'][0]['label'] == truth
    if task == 'segmentation':
        return sorted(d['label'] for d in found['segments']) == list(truth)
    import torch
    from mmdet.structures.bbox import bbox_overlaps

    drawn = found['detections']
    if len(drawn) != len(truth):
        return False
    if not truth:
        return True
    iou = bbox_overlaps(torch.tensor([d['bbox'] for d in drawn]), torch.tensor([t['bbox'] for t in truth]))
    matched = set()
    for i, d in enumerate(drawn):
        j = int(iou[i].argmax())
        if iou[i, j] < 0.5 or d['label'] != truth[j]['name'] or j in matched:
            return False
        matched.add(j)
    return True


@contextlib.contextmanager
def output_into(log_file: str):
    """The process's own stdout and stderr (the hosts' log lines and warnings)
    into a file, at the descriptor level."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log_file, 'w') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def draw_all(results: list, data_root: str, out_dir: str, num: int) -> dict:
    """Each run's model draws its task's held-out examples (tools/_drawing.py,
    the hosts' visualizers); the first example of every run goes into one
    overview (a row per task, a column per pre-training)."""
    from _drawing import draw_detection, draw_recognition, draw_segmentation
    from mmcv.ops import nms

    from icar_mm.apis import inference, init_model

    pictures, cells = dict(), dict()
    for r in results:
        task = TASKS[r['task']]
        examples, vocabulary = held_out_examples(task, osp.join(data_root, task.data), num)
        model = init_model(
            r['config'],
            r['checkpoint'],
            vocabulary=list(vocabulary),
            device='cpu',
            cfg_options={field: r['weights'] for field in task.weights},
        )
        truths = ground_truth(task, osp.join(data_root, task.data))
        folder = osp.join(out_dir, task.name, r['tag'])
        os.makedirs(folder, exist_ok=True)
        drawn_list = []
        for path, truth in examples:
            sample = inference(model, path)
            if task.name == 'detection':  # one name per box: its best class (class-agnostic NMS)
                pred = sample.pred_instances
                sample.pred_instances = pred[nms(pred.bboxes, pred.scores, 0.5)[1]]
                best = float(pred.scores.max()) if len(pred) else 0.0
                drawn, found, _ = draw_detection(model, sample, path, min(DETECTION_SCORE, best))
            elif task.name == 'segmentation':
                drawn, found, _ = draw_segmentation(model, sample, path, 0.0, hidden=('background',))
            else:
                drawn, found, _ = draw_recognition(model, sample, path, 0.0, topk=3, frames=2, truth=truth)
            name = osp.splitext(osp.basename(path))[0]
            cv2.imwrite(osp.join(folder, f'{name}.png'), drawn[..., ::-1])
            truth = truths(path) if truth is None else truth
            drawn_list.append(
                dict(
                    input=path,
                    truth=truth,
                    named_right=named_right(task.name, found, truth),
                    picture=osp.join(folder, f'{name}.png'),
                    **found,
                )
            )
            cells.setdefault((task.name, r['tag']), drawn)
        pictures.setdefault(task.name, {})[r['tag']] = drawn_list
    pictures['overview'] = osp.join(out_dir, 'overview.png')
    cv2.imwrite(pictures['overview'], overview(cells, results)[..., ::-1])
    return pictures


def overview(cells: dict, results: list) -> np.ndarray:
    """A grid of drawn examples with row and column titles (RGB)."""
    height, title, font = 400, 36, cv2.FONT_HERSHEY_SIMPLEX
    tags = list(dict.fromkeys(r['tag'] for r in results))
    headings = {r['tag']: r['pretraining'] for r in results}
    rows = list(dict.fromkeys(r['task'] for r in results))
    scores = {(r['task'], r['tag']): f'{r["metric"]} {r["novel"]:.1f}' for r in results}
    scaled = {k: cv2.resize(v, (round(v.shape[1] * height / v.shape[0]), height)) for k, v in cells.items()}
    widths = [max(scaled[(t, tag)].shape[1] for t in rows if (t, tag) in scaled) for tag in tags]
    left = 150
    canvas = np.full((title + len(rows) * (height + title), left + sum(widths) + 10 * len(tags), 3), 255, np.uint8)
    x = left
    for tag, width in zip(tags, widths):
        cv2.putText(canvas, headings[tag], (x + 4, 26), font, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
        for i, task in enumerate(rows):
            y = title + i * (height + title)
            if (task, tag) in scaled:
                cell = scaled[(task, tag)]
                canvas[y + title : y + title + height, x : x + cell.shape[1]] = cell
                cv2.putText(canvas, scores[(task, tag)], (x + 4, y + 26), font, 0.6, (40, 40, 40), 1, cv2.LINE_AA)
        x += width + 10
    for i, task in enumerate(rows):
        cv2.putText(
            canvas, task, (8, title + i * (height + title) + title + height // 2), font, 0.7, (0, 0, 0), 2, cv2.LINE_AA
        )
    return canvas


def checkpoint_of(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def pretrain(stage: Stage, work: str, label: str, name: str, config: str, iters: int):
    """One pre-training through tools/train.py; its iCAR-layout export and the
    linear probe of its image encoder (colour and shape accuracy, %)."""
    warmup = min(50, iters // 2)
    run_dir = osp.join(work, name)
    stage.run(
        label,
        name,
        osp.join(REPO, 'tools', 'train.py'),
        config,
        '--work-dir',
        run_dir,
        '--cfg-options',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        f'param_scheduler.0.end={warmup}',
        f'param_scheduler.1.begin={warmup}',
        f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={iters}',
    )
    metrics = val_metrics(run_dir)
    probe = {k.split('/', 1)[1]: v for k, v in metrics.items() if k.startswith('probe/')}
    return osp.join(run_dir, 'icar_synthetic.pth'), probe


def fine_tune(stage: Stage, task: Task, data_root: str, run_dir: str, label: str, log_name: str, ckpt, options=()):
    """One task trained through tools/train.py from ``ckpt`` (None: random init)
    and evaluated at the end of its (scaled) schedule; its table row."""
    from mmengine.config import Config

    loop = Config.fromfile(task.config).train_cfg
    length = 'max_iters' if 'max_iters' in loop else 'max_epochs'
    n = stage.scaled(loop[length], minimum=1)
    schedule = [f'train_cfg.{length}={n}', f'train_cfg.val_interval={n}', f'default_hooks.checkpoint.interval={n}']
    if 'val_begin' in loop:
        schedule.append(f'train_cfg.val_begin={n}')
    weights = [f'{field}={ckpt}' for field in task.weights]
    stage.run(
        label,
        log_name,
        osp.join(REPO, 'tools', 'train.py'),
        task.config,
        '--work-dir',
        run_dir,
        '--cfg-options',
        *weights,
        *data_options(task, osp.join(data_root, task.data)),
        *schedule,
        *options,
        epochs=n if length == 'max_epochs' else None,
    )
    metrics = val_metrics(run_dir)
    scale = 100 if task.percent else 1
    return dict(
        task=task.name,
        minutes=stage.minutes[log_name],
        metric=task.novel[1],
        novel=round(metrics[task.novel[0]] * scale, 1),
        base_metric=task.base[1],
        base=round(metrics[task.base[0]] * scale, 1),
        config=task.config,
        checkpoint=checkpoint_of(run_dir),
        weights=ckpt,
    )


def probe_line(probe: dict) -> str:
    return f'colour {probe["colour"]:.1f} %, shape {probe["shape"]:.1f} % (chance {probe["shape_chance"]:.0f} %)'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default=None, help='default: work_dirs/quickstart (work_dirs/ablation)')
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS))
    parser.add_argument('--pretrain-iters', type=int, default=600)
    parser.add_argument(
        '--schedule', type=float, default=1.0, help='scale every fine-tuning schedule and world size (CI runs 0.03)'
    )
    parser.add_argument('--skip-baseline', action='store_true', help='no runs without pre-training')
    parser.add_argument(
        '--ablation',
        action='store_true',
        help="the paper's comparison instead: every pre-training variant of VARIANTS, each fine-tuned on the tasks",
    )
    parser.add_argument(
        '--variants',
        nargs='+',
        choices=[variant_tag(c) for _, c in VARIANTS],
        default=[variant_tag(c) for _, c in VARIANTS],
        help='with --ablation: these variants only (default: all)',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=2,
        help='CPU threads per training: the numbers reproduce for the same count (default: 2)',
    )
    parser.add_argument('--examples', type=int, default=4, help='held-out examples drawn per task')
    args = parser.parse_args()
    start = time.time()
    work = osp.abspath(args.work_dir or osp.join(REPO, 'work_dirs', 'ablation' if args.ablation else 'quickstart'))
    data_root = osp.join(work, 'data')
    stage = Stage(work, args.threads, args.schedule)
    tasks = [TASKS[name] for name in args.tasks]
    scaled = stage.scaled

    t = time.time()
    print(f'{"1. the embedded world (base-class labels only in training)":<58}', end='', flush=True)
    write_world(
        data_root,
        dict(
            detection=(scaled(64), scaled(16)), segmentation=(scaled(256), scaled(64)), action=(scaled(256), scaled(64))
        ),
    )
    stage.minutes['world'] = round((time.time() - t) / 60, 2)
    print(f' {stage.minutes["world"]:4.1f} min   data: {shown(data_root)}')
    iters = max(2, int(args.pretrain_iters))
    if args.ablation:
        variants = tuple(v for v in VARIANTS if variant_tag(v[1]) in args.variants)
        return ablation(stage, work, data_root, tasks, variants, iters, start)

    icar, probe = pretrain(stage, work, '2. iCAR pre-training (image-label + image-text)', 'pretrain', PRETRAIN, iters)
    runs = [('iCAR pre-trained', 'pretrained', icar)] + (
        [] if args.skip_baseline else [('no pre-training', 'scratch', None)]
    )
    results = []
    for task in tasks:
        for name, tag, ckpt in runs:
            row = fine_tune(
                stage,
                task,
                data_root,
                osp.join(work, task.name, tag),
                f'3. {task.name}, {name}',
                f'{task.name}_{tag}',
                ckpt,
            )
            results.append(dict(row, pretraining=name, tag=tag))

    t = time.time()
    print(f'{"4. drawing held-out examples, novel classes named":<58}', end='', flush=True)
    log_file = osp.join(work, 'logs', 'pictures.log')
    try:
        with output_into(log_file):
            pictures = draw_all(results, data_root, osp.join(work, 'pictures'), args.examples)
    except Exception:
        print(f' FAILED; full log: {shown(log_file)}')
        raise
    stage.minutes['pictures'] = round((time.time() - t) / 60, 2)
    print(f' {stage.minutes["pictures"]:4.1f} min   pictures: {shown(osp.join(work, "pictures"))}')

    minutes = (time.time() - start) / 60
    print(f'\n5. summary ({minutes:.1f} min): held-out data; novel classes never labelled in training')
    print(f'   linear probe of the pre-trained encoder (held-out single objects): {probe_line(probe)}')
    print(f'   {"task":<14}{"pre-training":<18}{"novel":>8}{"":<13}{"base":>8}{"":<12}{"min":>6}')
    for r in results:
        print(
            f'   {r["task"]:<14}{r["pretraining"]:<18}{r["novel"]:>8.1f} {r["metric"]:<12}'
            f'{r["base"]:>8.1f} {r["base_metric"]:<11}{r["minutes"]:>6.1f}'
        )
    for name, tag, _ in runs:
        named = [p for task in tasks for p in pictures[task.name][tag]]
        right = sum(p['named_right'] for p in named)
        print(f'   pictures, {name}: {right} of {len(named)} held-out examples named right')
    print(f'   overview: {shown(pictures["overview"])}')
    with open(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(
            dict(
                minutes=round(minutes, 2),
                stage_minutes=stage.minutes,
                threads=args.threads,
                probe=probe,
                rows=[{k: v for k, v in r.items() if k not in ('tag', 'weights')} for r in results],
                pictures=pictures,
            ),
            f,
            indent=1,
        )


def column(task: Task) -> str:
    """An ablation column's heading: the task and its two figures."""
    return f'{task.name} {task.novel[1].split()[0]} / {task.base[1].split()[0]}'


def cell(figures: dict) -> str:
    """novel / base, each with +- half its range over seeds when there are several."""

    def one(key):
        runs = figures[f'{key}_runs']
        return f'{figures[key]:.1f}' + (f'+-{(max(runs) - min(runs)) / 2:.1f}' if len(runs) > 1 else '')

    return f'{one("novel")} / {one("base")}'


def variant_tag(config: str) -> str:
    """A variant's short name: its config's algorithm field (``ic-pretrain``)."""
    return osp.basename(config).split('_')[0]


def ablation(stage: Stage, work: str, data_root: str, tasks: list, variants: tuple, iters: int, start: float) -> None:
    """The paper's comparison in miniature: each variant pre-trained, probed and
    fine-tuned on the tasks (downstream prompts enriched only when the
    variant's text encoder learned the descriptions); one row per variant,
    and one without pre-training."""
    from mmengine.config import Config

    rows = []
    for i, (name, config) in enumerate(variants + (('no pre-training', None),), 1):
        tag = variant_tag(config) if config else 'scratch'
        if config:
            icar, probe = pretrain(stage, work, f'{i}. {name}: pre-training', osp.join(tag, 'pretrain'), config, iters)
            enriched = Config.fromfile(config).model.classifier.get('enriched', True)
        else:
            icar, probe, enriched = None, None, True
        row = dict(pretraining=name, config=config and osp.relpath(config, REPO), probe=probe, tasks={})
        for task in tasks:
            prompts = [f'{c}.enriched={enriched}' for c in task.classifiers]
            seeds = range(ABLATION_SEEDS.get(task.name, 1))
            runs = [
                fine_tune(
                    stage,
                    task,
                    data_root,
                    osp.join(work, tag, f'{task.name}_seed{seed}'),
                    f'{i}. {name}: {task.name}' + (f', seed {seed}' if len(seeds) > 1 else ''),
                    f'{tag}_{task.name}_seed{seed}',
                    icar,
                    [*prompts, f'randomness.seed={seed}'],
                )
                for seed in seeds
            ]
            row['tasks'][task.name] = dict(
                {k: round(float(np.mean([r[k] for r in runs])), 1) for k in ('novel', 'base')},
                **{f'{k}_runs': [r[k] for r in runs] for k in ('novel', 'base')},
                metric=task.novel[1],
                base_metric=task.base[1],
                minutes=round(sum(r['minutes'] for r in runs), 2),
            )
        rows.append(row)
    minutes = (time.time() - start) / 60
    print_ablation(rows, tasks, minutes)
    with open(osp.join(work, 'ablation.json'), 'w') as f:
        json.dump(dict(minutes=round(minutes, 2), stage_minutes=stage.minutes, rows=rows), f, indent=1)


def print_ablation(rows: list, tasks: list, minutes: float) -> None:
    """The ablation's table: a row per variant, the probe and novel / base per task."""
    print(f'\nablation ({minutes:.1f} min): novel / base per task on held-out data; probe accuracy in %')
    print(f'   {"pre-training":<30}{"probe: colour":>14}{"shape":>7}' + ''.join(f'{column(t):>30}' for t in tasks))
    for row in rows:
        probe = row['probe']
        probed = f'{probe["colour"]:>14.1f}{probe["shape"]:>7.1f}' if probe else f'{"-":>14}{"-":>7}'
        print(f'   {row["pretraining"]:<30}{probed}' + ''.join(f'{cell(row["tasks"][t.name]):>30}' for t in tasks))
    spread = [t.name for t in tasks if ABLATION_SEEDS.get(t.name, 1) > 1]
    if spread:
        print(f'   {" and ".join(spread)}: mean of {ABLATION_SEEDS[spread[0]]} fine-tuning seeds, +- half their range')


if __name__ == '__main__':
    main()
