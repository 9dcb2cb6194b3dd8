"""icar_mm as a package others depend on: metafiles, `icar_mm::` config bases through the editable
install and through a wheel installed alone, and true run-time requirements."""

import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml
from conftest import REPO, THREADS, declared_requirements

TASK_FOLDERS = ('detection', 'segmentation', 'recognition', 'multilabel', 'quickstart')
# a user's own config per task: an icar_mm:: base and a few overrides of their own
USER_CONFIGS = {
    'detection': """
        _base_ = 'icar_mm::quickstart/ov-mask-rcnn_icar-swin-tiny_synthetic.py'
        model = dict(roi_head=dict(bbox_head=dict(classifier=dict(vocabulary=['red circle', 'zebra']))))
    """,
    'segmentation': """
        _base_ = 'icar_mm::quickstart/ov-upernet_icar-swin-tiny_synthetic.py'
        model = dict(decode_head=dict(dropout_ratio=0.0))
    """,
    'recognition': """
        _base_ = 'icar_mm::quickstart/ov-video-swin_icar-swin-tiny_synthetic-actions.py'
        model = dict(cls_head=dict(dropout_ratio=0.0))
    """,
}
# builds each user config with its host's registry and says what it built (run in a fresh environment too)
BUILD_USER_CONFIGS = """
import sys
import icar_mm  # registers icar_mm:: with mmengine: before the config is parsed
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

for path in sys.argv[1:]:
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    print(path, cfg.default_scope, type(model).__name__, sep='|')
"""
# where icar_mm is imported from, and each of its declared requirements against what is installed
CHECK_REQUIREMENTS = """
import importlib.metadata as metadata
import icar_mm
from packaging.requirements import Requirement

print(icar_mm.__file__)
for line in metadata.requires('icar_mm'):
    requirement = Requirement(line)
    if requirement.marker is not None:  # an extra's
        continue
    try:
        found = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        found = None
    met = found is not None and requirement.specifier.contains(found, prereleases=True)
    print(requirement, found, 'met' if met else 'unmet')
"""
BUILT = {'detection': 'MaskRCNN', 'segmentation': 'TextEncoderDecoder', 'recognition': 'Recognizer3D'}


def shipped_configs():
    return sorted(
        osp.relpath(p, REPO) for task in TASK_FOLDERS for p in glob.glob(osp.join(REPO, 'configs', task, '*.py'))
    )


def test_metafiles_list_every_shipped_config_and_nothing_else():
    index = yaml.safe_load(open(osp.join(REPO, 'model-index.yml')))
    assert sorted(index['Import']) == sorted(f'configs/{task}/metafile.yml' for task in TASK_FOLDERS)
    listed = []
    for meta_path in index['Import']:
        meta = yaml.safe_load(open(osp.join(REPO, meta_path)))
        collections = {c['Name'] for c in meta['Collections']}
        for c in meta['Collections']:
            assert c['Paper']['URL'].startswith('https://arxiv.org/abs/') and c['Paper']['Title'], c['Name']
            assert osp.exists(osp.join(REPO, c['Code']['URL'])), c['Code']['URL']
        for model in meta['Models']:
            assert model['In Collection'] in collections, model['Name']
            assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
            assert osp.dirname(model['Config']) == osp.dirname(meta_path), f'{model["Config"]} listed in {meta_path}'
            assert 'Weights' not in model, 'no weights are published'
            for result in model.get('Results', []):
                assert result['Task'] and result['Dataset'] and result['Metrics'], model['Name']
            listed.append(model['Config'])
    assert sorted(listed) == shipped_configs(), 'every shipped config listed once, every listed config shipped'


def write_user_configs(folder) -> list:
    paths = []
    for task, text in USER_CONFIGS.items():
        path = osp.join(folder, f'my_{task}.py')
        with open(path, 'w') as f:
            f.write(textwrap.dedent(text))
        paths.append(path)
    return paths


def check_built(out: str, paths: list):
    lines = [line.split('|') for line in out.splitlines() if '|' in line]
    assert [line[0] for line in lines] == paths, out
    for (task, built), (_, scope, name) in zip(BUILT.items(), lines):
        assert name == built and scope == dict(detection='mmdet', segmentation='mmseg', recognition='mmaction')[task]


def test_user_configs_inherit_icar_mm_configs_through_the_editable_install(tmp_path):
    """A user's config folder outside the repository: `_base_ = 'icar_mm::...'` parses and builds for each
    task, from the configs the install links in icar_mm/.mim/, in a subprocess that imports icar_mm first."""
    from mmengine.config import utils

    import icar_mm

    assert osp.realpath(osp.join(osp.dirname(icar_mm.__file__), '.mim', 'configs')) == osp.join(REPO, 'configs')
    assert utils.MODULE2PACKAGE['icar_mm'] == 'icar_mm'
    paths = write_user_configs(str(tmp_path))
    proc = subprocess.run(
        [sys.executable, '-c', BUILD_USER_CONFIGS, *paths], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    check_built(proc.stdout, paths)


def test_an_icar_mm_base_keeps_its_host_scope(tmp_path):
    """mmengine gives the typed dicts of a `pkg::` base `_scope_=pkg`; our configs are host configs, so
    an icar_mm:: base must build exactly what the same config built by path does."""
    from mmengine.config import Config

    import icar_mm  # noqa: F401

    (tmp_path / 'user.py').write_text("_base_ = 'icar_mm::quickstart/ov-upernet_icar-swin-tiny_synthetic.py'\n")
    by_package = Config.fromfile(str(tmp_path / 'user.py'))
    by_path = Config.fromfile(osp.join(REPO, 'configs', 'quickstart', 'ov-upernet_icar-swin-tiny_synthetic.py'))
    assert by_package.to_dict() == by_path.to_dict()


def test_runtime_requirements_are_declared_with_the_setuptools_bound():
    """setup.py reads requirements/runtime.txt: the configs' `mmdet::` / `icar_mm::` bases need
    pkg_resources at run time, which setuptools 81 removed."""
    requirements = declared_requirements('runtime.txt')
    assert 'setuptools<81' in requirements
    assert {r.split('>')[0].split('=')[0].split('<')[0] for r in requirements} >= {
        'torch',
        'mmcv',
        'mmengine',
        'mmdet',
        'mmsegmentation',
        'mmaction2',
        'open_clip_torch',
        'transformers',
    }
    tests = declared_requirements('tests.txt')
    assert 'pytest>=8' in tests and 'gradio==6.31.0' in tests, '-r includes are followed'


def _fresh_environment(folder) -> str:
    """A new virtual environment that sees the already-installed stack (torch, mmcv, the hosts) through
    a .pth file, but not this checkout nor its editable icar_mm; its python."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', folder], check=True)
    python = osp.join(folder, 'bin', 'python')
    site = subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stack = [p for p in sys.path if p.endswith('site-packages') and osp.isdir(p)]
    with open(osp.join(site, 'installed_stack.pth'), 'w') as f:
        f.write('\n'.join(stack) + '\n')
    return python


@pytest.mark.slow
def test_the_wheel_installs_alone_and_user_configs_inherit_its_configs(tmp_path):
    """Build an sdist from the tracked files and the wheel from it, install it without the source tree into a fresh
    environment that reuses the installed stack, and parse, build and train user configs that inherit
    `icar_mm::` configs, from a folder outside the repository."""
    tracked = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / 'source'
    for name in tracked:
        if osp.isfile(osp.join(REPO, name)):
            os.makedirs(source / osp.dirname(name), exist_ok=True)
            shutil.copyfile(osp.join(REPO, name), source / name)
    # an sdist from the tracked files, then the wheel from that sdist, as a package index would build it
    subprocess.run(
        [sys.executable, 'setup.py', '-q', 'sdist', '-d', str(tmp_path / 'dist')],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (sdist,) = glob.glob(str(tmp_path / 'dist' / 'icar_mm-*.tar.gz'))
    import tarfile
    import zipfile

    in_sdist = {name.split('/', 1)[1] for name in tarfile.open(sdist).getnames() if '/' in name}
    assert {f'icar_mm/.mim/{p}' for p in shipped_configs()} <= in_sdist and 'requirements/runtime.txt' in in_sdist
    subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', sdist, '-w', 'dist'],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    (wheel,) = glob.glob(str(tmp_path / 'dist' / 'icar_mm-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f'icar_mm/.mim/{p}' for p in shipped_configs()} <= names
    assert {'icar_mm/.mim/model-index.yml', 'icar_mm/.mim/tools/train.py', 'icar_mm/.mim/tools/test.py'} <= names
    assert not [n for n in names if '__pycache__' in n]

    python = _fresh_environment(str(tmp_path / 'env'))
    pip = [sys.executable, '-m', 'pip', '--python', python, 'install', '-q', '--no-deps', '--no-index', wheel]
    subprocess.run(pip, check=True, capture_output=True)
    user = tmp_path / 'my_project'
    user.mkdir()
    paths = write_user_configs(str(user))
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    env.pop('PYTHONPATH', None)
    where = subprocess.run(
        [python, '-c', CHECK_REQUIREMENTS], cwd=user, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert where.startswith(str(tmp_path / 'env')), f'icar_mm must come from the wheel, not the checkout: {where}'
    assert 'setuptools<81' in where and 'unmet' not in where, where
    proc = subprocess.run(
        [python, '-c', BUILD_USER_CONFIGS, *paths], cwd=user, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    check_built(proc.stdout, paths)

    # and trains: the wheel's own tools/train.py (what `mim train icar_mm` runs) on a world of its own
    from icar_mm.datasets.synthetic import ALL_CLASSES, BASE_CLASSES, write_segmentation_set

    data = str(user / 'data')
    for split, num, labelled in (('train', 4, BASE_CLASSES), ('val', 2, None)):
        write_segmentation_set(
            data,
            split,
            num_images=num,
            seed=0,
            classes=('background',) + ALL_CLASSES,
            background_class='background',
            label_classes=labelled,
        )
    train = osp.join(osp.dirname(where.splitlines()[0]), '.mim', 'tools', 'train.py')
    options = [f'{loader}_dataloader.dataset.data_root={data}/' for loader in ('train', 'val', 'test')]
    options += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2']
    # from scratch: the quickstart config names its pre-training file, which this project does not have
    options += ['model.backbone.checkpoint=None', 'model.decode_head.classifier.text_encoder.checkpoint=None']
    proc = subprocess.run(
        [python, train, paths[1], '--work-dir', 'work_dirs/seg', '--cfg-options', *options],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    assert (user / 'work_dirs' / 'seg' / 'iter_2.pth').is_file() and 'mIoU_unseen' in proc.stdout + proc.stderr
