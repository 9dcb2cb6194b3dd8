import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_CONFIGS = osp.join(REPO, 'tests', 'configs')


def run_tool(*args, timeout=900):
    """Run tools/<script> in a subprocess as a user would; fail with its output."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc.stdout + proc.stderr


def run_tool_failing(*args, timeout=600):
    """Run tools/<script> expecting it to stop with an error; its output."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode == 0:
        raise AssertionError(f'{args} succeeded, expected an error:\n{proc.stdout[-3000:]}')
    return proc.stdout + proc.stderr


def tool_helpers():
    """tools/_common.py, the command-line plumbing the tools share."""
    tools = osp.join(REPO, 'tools')
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import _common
    return _common


def data_root_options(root, loaders=('train', 'val', 'test')):
    return [f'{name}_dataloader.dataset.data_root={root}/' for name in loaders]


def detection_options(root):
    """Point a detection config at synthetic data written by ``write_detection_set``."""
    return data_root_options(root) + [f'{name}_evaluator.ann_file={root}/annotations/val.json'
                                      for name in ('val', 'test')]


@pytest.fixture(scope='session')
def det_data(tmp_path_factory):
    from icar_mm.datasets.synthetic import write_detection_set
    root = str(tmp_path_factory.mktemp('synthetic_det'))
    write_detection_set(root, 'train', num_images=8, seed=0)
    write_detection_set(root, 'val', num_images=4, seed=1)
    return root


@pytest.fixture(scope='session')
def seg_data(tmp_path_factory):
    from icar_mm.datasets.synthetic import write_segmentation_set
    root = str(tmp_path_factory.mktemp('synthetic_seg'))
    write_segmentation_set(root, 'train', num_images=8, seed=0)
    write_segmentation_set(root, 'val', num_images=4, seed=1)
    return root


@pytest.fixture(scope='session')
def video_data(tmp_path_factory):
    from icar_mm.datasets.synthetic import write_video_set
    root = str(tmp_path_factory.mktemp('synthetic_video'))
    write_video_set(root, 'train', num_videos=4, seed=0)
    write_video_set(root, 'val', num_videos=4, seed=1)
    return root
