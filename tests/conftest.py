import os
import os.path as osp
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from filelock import FileLock

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_CONFIGS = osp.join(REPO, 'tests', 'configs')
# The tiny random-init open_clip architecture (icar_mm/model_configs) and its text tower.
TINY_TOWER = 'tiny-random-clip'
TINY_TEXT_ENCODER = dict(type='icar_mm.OpenCLIPTextEncoder', model_name=TINY_TOWER)
# `make test` runs the suite on pytest-xdist workers, a process each: every training they start
# gets an equal share of the cores (at most 2 threads, as a run of its own would get).
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
THREADS = max(1, min(2, (os.cpu_count() or 1) // WORKERS))
if WORKERS > 1:
    torch.set_num_threads(THREADS)


def pytest_collection_modifyitems(items):
    """On several workers the end-to-end runs go first, so that none is left alone at the end; the longest
    chain first of all: the shortened quickstart and the tests of the models it trains."""
    if WORKERS > 1:
        items.sort(
            key=lambda item: (item.get_closest_marker('slow') is None, 'quickstart_run' not in item.fixturenames)
        )


def tool_env(**extra):
    """The environment the tools run in: this checkout, this worker's share of the cores."""
    return dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=str(THREADS), **extra)


def run_tool(*args, timeout=900):
    """Run tools/<script> in a subprocess as a user would; fail with its output."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)], cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc.stdout + proc.stderr


def run_tool_failing(*args, timeout=600):
    """Run tools/<script> expecting it to stop with an error; its output."""
    proc = subprocess.run(
        [sys.executable, *map(str, args)], cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode == 0:
        raise AssertionError(f'{args} succeeded, expected an error:\n{proc.stdout[-3000:]}')
    return proc.stdout + proc.stderr


def declared_requirements(name: str) -> list:
    """``requirements/<name>`` as setup.py reads it (its ``parse_requirements``)."""
    sys.path.insert(0, REPO)
    try:
        from setup import parse_requirements
    finally:
        sys.path.remove(REPO)
    return parse_requirements(name)


def initialised(module):
    """``module`` with its pre-trained weights read, as the Runner does when training starts."""
    module.init_weights()
    return module


def tool_helpers():
    """tools/_common.py, the command-line plumbing the tools share."""
    tools = osp.join(REPO, 'tools')
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import _common

    return _common


def built_once(tmp_path_factory, name, build) -> Path:
    """A folder that ``build(folder)`` fills once per test run and every worker reads:
    the first worker to ask builds it while the others wait for it."""
    if 'PYTEST_XDIST_WORKER' not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name  # the workers' common base
    with FileLock(f'{folder}.lock'):
        if not (folder / '.built').exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / '.built').touch()
    return folder


def data_root_options(root, loaders=('train', 'val', 'test')):
    return [f'{name}_dataloader.dataset.data_root={root}/' for name in loaders]


def detection_options(root):
    """Point a detection config at synthetic data written by ``write_detection_set``."""
    return data_root_options(root) + [
        f'{name}_evaluator.ann_file={root}/annotations/val.json' for name in ('val', 'test')
    ]


def video_options(root):
    """Point a recognition config at clips written by ``write_video_set`` (testing on the val split)."""
    return [
        item
        for name, split in (('train', 'train'), ('val', 'val'), ('test', 'val'))
        for item in (
            f'{name}_dataloader.dataset.ann_file={root}/{split}_list.txt',
            f'{name}_dataloader.dataset.data_prefix.video={root}/videos/{split}',
        )
    ]


def two_splits(tmp_path_factory, name, write, train: dict, val: dict) -> str:
    """A train and a val split written by ``write`` (a ``write_*_set``), once per run."""

    def build(root):
        write(str(root), 'train', **train)
        write(str(root), 'val', **val)

    return str(built_once(tmp_path_factory, name, build))


@pytest.fixture(scope='session')
def det_data(tmp_path_factory):
    from icar_mm.datasets.synthetic import write_detection_set

    return two_splits(
        tmp_path_factory, 'synthetic_det', write_detection_set, dict(num_images=8, seed=0), dict(num_images=4, seed=1)
    )


@pytest.fixture(scope='session')
def seg_data(tmp_path_factory):
    from icar_mm.datasets.synthetic import write_segmentation_set

    return two_splits(
        tmp_path_factory,
        'synthetic_seg',
        write_segmentation_set,
        dict(num_images=8, seed=0),
        dict(num_images=4, seed=1),
    )


@pytest.fixture(scope='session')
def video_data(tmp_path_factory):
    from icar_mm.datasets.synthetic import write_video_set

    return two_splits(
        tmp_path_factory, 'synthetic_video', write_video_set, dict(num_videos=4, seed=0), dict(num_videos=4, seed=1)
    )


@pytest.fixture(scope='session')
def ov_det_data(tmp_path_factory):
    """An open-vocabulary split: training boxes of base classes only, validation boxes of all."""
    from icar_mm.datasets.synthetic import BASE_CLASSES, write_detection_set

    train = dict(num_images=8, seed=0, label_classes=BASE_CLASSES)
    return two_splits(tmp_path_factory, 'synthetic_ov_det', write_detection_set, train, dict(num_images=4, seed=1))


# --- models trained once per session, for the tests that use a trained one ------------------
@dataclass(frozen=True)
class Trained:
    config: str
    options: list  # the --cfg-options it was trained with: its data
    work_dir: Path  # as tools/train.py left it; tests write elsewhere
    checkpoint: str  # the last one written


def train(tmp_path_factory, name, config, options) -> Trained:
    def build(root):
        run_tool('tools/train.py', config, '--work-dir', root / name, '--cfg-options', *options)

    work_dir = built_once(tmp_path_factory, f'trained_{name}', build) / name
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    return Trained(config, options, work_dir, checkpoint)


@pytest.fixture(scope='session')
def trained_detector(tmp_path_factory, ov_det_data):
    """The tiny open-vocabulary Mask R-CNN, one epoch on base-class boxes."""
    return train(
        tmp_path_factory, 'detector', osp.join(TEST_CONFIGS, 'tiny_ov_mask_rcnn.py'), detection_options(ov_det_data)
    )


@pytest.fixture(scope='session')
def trained_segmentor(tmp_path_factory, seg_data):
    """The tiny ADE20K-path UPerNet, 4 iterations."""
    return train(tmp_path_factory, 'segmentor', osp.join(TEST_CONFIGS, 'tiny_upernet.py'), data_root_options(seg_data))


@pytest.fixture(scope='session')
def trained_recognizer(tmp_path_factory, video_data):
    """The tiny Kinetics-400-path video Swin, one epoch."""
    return train(
        tmp_path_factory, 'recognizer', osp.join(TEST_CONFIGS, 'tiny_video_swin.py'), video_options(video_data)
    )


@pytest.fixture(scope='session')
def quickstart_run(tmp_path_factory) -> Path:
    """The quickstart on a shortened schedule, once per session (``quickstart/``, its terminal output in
    ``terminal.txt``). Then its pre-training file is moved aside (``icar_synthetic.moved.pth``), as when the
    trained models are passed on: what they need must be in their own checkpoints and configs."""

    def build(folder):
        work = folder / 'quickstart'
        out = run_tool(
            'tools/quickstart.py',
            '--work-dir',
            work,
            '--pretrain-iters',
            8,
            '--schedule',
            0.03,
            '--examples',
            2,
            '--threads',
            THREADS,
        )
        (folder / 'terminal.txt').write_text(out)
        (work / 'pretrain' / 'icar_synthetic.pth').rename(folder / 'icar_synthetic.moved.pth')

    return built_once(tmp_path_factory, 'quickstart_run', build)
