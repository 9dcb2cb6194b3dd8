"""The installed stack, the registry and the train/test tools on stock host configs."""

import glob
import os.path as osp

import pytest
from conftest import (
    TEST_CONFIGS,
    TINY_TEXT_ENCODER,
    data_root_options,
    declared_requirements,
    detection_options,
    run_tool,
    video_options,
)


def test_installed_stack_is_within_the_declared_bounds():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    for dependency in declared_requirements('runtime.txt'):
        requirement = Requirement(dependency)
        assert requirement.specifier.contains(version(requirement.name), prereleases=True), (
            f"{requirement.name} {version(requirement.name)} is outside requirements/runtime.txt's {requirement}"
        )


def test_hosts_and_compiled_ops_import():
    import mmaction  # noqa: F401
    import mmdet  # noqa: F401
    import mmseg  # noqa: F401
    import open_clip  # noqa: F401
    import torch
    from mmcv.ops import RoIAlign, nms

    # the compiled ops run, not just import
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = RoIAlign((2, 2), 1.0, 0)(torch.ones(1, 1, 8, 8), torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]))
    assert torch.allclose(feats, torch.ones(1, 1, 2, 2))


@pytest.mark.parametrize(
    'scope,registry_module',
    [('mmdet', 'mmdet.registry'), ('mmseg', 'mmseg.registry'), ('mmaction', 'mmaction.registry')],
)
def test_registry_round_trip_under_each_host_scope(scope, registry_module):
    import importlib

    from mmengine.registry import DefaultScope

    from icar_mm.classifier import TextCosineClassifier

    host_models = importlib.import_module(registry_module).MODELS
    cfg = dict(
        type='icar_mm.TextCosineClassifier',
        vocabulary=['cat', 'dog'],
        text_encoder=dict(TINY_TEXT_ENCODER, type='OpenCLIPTextEncoder'),
    )  # un-prefixed inside ours
    with DefaultScope.overwrite_default_scope(scope):
        classifier = host_models.build(cfg)
        # host modules still resolve in the same scope
        assert host_models.build(dict(type='CrossEntropyLoss')) is not None
    assert isinstance(classifier, TextCosineClassifier)
    assert classifier.class_names == ('cat', 'dog')


def _train_then_test(config, options, tmp_path, metric_key):
    work_dir = tmp_path / 'work'
    run_tool('tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *options)
    ckpts = sorted(glob.glob(str(work_dir / '*.pth')))
    assert ckpts, f'no checkpoint written in {work_dir}'
    out = run_tool('tools/test.py', config, ckpts[-1], '--work-dir', tmp_path / 'test', '--cfg-options', *options)
    assert metric_key in out, out[-3000:]


@pytest.mark.slow
def test_train_then_test_stock_mmdet_config(det_data, tmp_path):
    _train_then_test(
        osp.join(TEST_CONFIGS, 'tiny_mask_rcnn.py'), detection_options(det_data), tmp_path, 'coco/segm_mAP'
    )


@pytest.mark.slow
def test_train_then_test_stock_mmseg_config(seg_data, tmp_path):
    _train_then_test(osp.join(TEST_CONFIGS, 'tiny_fcn.py'), data_root_options(seg_data), tmp_path, 'mIoU')


@pytest.mark.slow
def test_train_then_test_stock_mmaction_config(video_data, tmp_path):
    _train_then_test(osp.join(TEST_CONFIGS, 'tiny_tsn.py'), video_options(video_data), tmp_path, 'acc/top1')


def test_host_fixes_name_the_version_they_were_written_for(monkeypatch):
    from icar_mm import compat

    monkeypatch.setattr(compat.metadata, 'version', lambda package: '9.9.9')
    with pytest.warns(
        UserWarning,
        match=r'written for mmengine 0\.10\.7, but mmengine 9\.9\.9 is installed; '
        'applied anyway',
    ):
        compat._allow_mmengine_checkpoints()


def test_configs_are_formatted_once_per_text_as_yapf_formats_them(monkeypatch):
    from mmengine.config import Config
    from mmengine.config import config as config_module
    from yapf.yapflib.yapf_api import FormatCode

    from icar_mm import compat  # noqa: F401  (the fix is in place on import)

    cfg = Config.fromfile(osp.join(TEST_CONFIGS, 'tiny_ov_mask_rcnn.py'))
    calls = []
    monkeypatch.setattr(config_module, 'FormatCode', lambda text, **kw: calls.append(text) or FormatCode(text, **kw))
    reference = cfg.pretty_text  # yapf itself, unkept
    monkeypatch.undo()
    kept = config_module.FormatCode.formatted
    kept.clear()
    assert cfg.pretty_text == reference and cfg.pretty_text == reference
    assert [text for text, _ in kept] == calls  # formatted once
    cfg.train_cfg.max_epochs = 7  # another text is formatted anew
    assert 'max_epochs=7' in cfg.pretty_text and len(kept) == 2
