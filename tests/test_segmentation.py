"""Segmentation: the text-generated cosine decode heads, the open-vocabulary IoU
metric, and the ADE20K / zero-shot config paths end to end on synthetic data."""

import glob
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, TEST_CONFIGS, data_root_options, run_tool

CONFIG = osp.join(TEST_CONFIGS, 'tiny_upernet.py')
ZS_CONFIG = osp.join(TEST_CONFIGS, 'tiny_zs_upernet.py')


def build_segmentor(config=CONFIG):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def seg_inputs(model, size=64, gt=None):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    torch.manual_seed(0)
    sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=gt[None])
    data = model.data_preprocessor(
        dict(inputs=[torch.rand(3, size, size) * 255], data_samples=[sample]), training=gt is not None
    )
    return data['inputs'], data['data_samples']


def test_iou_metric_matches_hand_computed_ious():
    from icar_mm.evaluation import OVIoUMetric

    classes = ('sky', 'road', 'cat', 'dog')
    metric = OVIoUMetric(unseen_classes=['cat', 'dog'], classwise=True)
    metric.dataset_meta = dict(classes=classes)
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 3, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 3, 3, 0]])
    metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]), gt_sem_seg=dict(data=gt[None]))])
    result = metric.evaluate(1)
    # sky: I=1, U=2 (pred 0 at (0,0); (1,3) is ignored) | road: I=2, U=3 | cat: I=1, U=2 | dog: I=1, U=2
    iou = dict(sky=1 / 2, road=2 / 3, cat=1 / 2, dog=1 / 2)
    for name, value in iou.items():
        assert result[f'IoU_{name}'] == pytest.approx(100 * value, abs=0.01)
    seen, unseen = 100 * (1 / 2 + 2 / 3) / 2, 100 * 1 / 2
    assert result['mIoU'] == pytest.approx(100 * np.mean(list(iou.values())), abs=0.01)
    assert result['mIoU_seen'] == pytest.approx(seen, abs=0.01)
    assert result['mIoU_unseen'] == pytest.approx(unseen, abs=0.01)
    assert result['hIoU'] == pytest.approx(2 * seen * unseen / (seen + unseen), abs=0.01)

    metric = OVIoUMetric(unseen_classes=['zebra'])
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]), gt_sem_seg=dict(data=gt[None]))])
    with pytest.raises(ValueError, match="unseen_classes \\['zebra'\\] are not classes of the evaluated"):
        metric.evaluate(1)


def test_vocabulary_swap_changes_segmented_classes():
    """Any vocabulary at test time, whole-image and sliding-window inference;
    the auxiliary head shares the decode head's text encoder."""
    from mmengine.config import ConfigDict

    from icar_mm.apis import set_vocabulary

    model = build_segmentor().eval()
    head = model.decode_head
    assert model.auxiliary_head.classifier.text_encoder is head.classifier.text_encoder
    assert not any(k.startswith('auxiliary_head.classifier.text_encoder') for k in model.state_dict())
    inputs, samples = seg_inputs(model)
    for vocabulary, mode in (
        (['red circle', 'blue square'], 'whole'),
        (['sky', 'road', 'tree', 'person', 'car'], 'slide'),
    ):
        set_vocabulary(model, vocabulary)
        model.test_cfg = ConfigDict(mode=mode, crop_size=(48, 48), stride=(32, 32))
        with torch.no_grad():
            result = model.predict(inputs, samples)[0]
        assert head.num_classes == model.num_classes == len(vocabulary)
        assert result.seg_logits.data.shape[0] == len(vocabulary)
        assert result.pred_sem_seg.data.max() < len(vocabulary)


def test_the_auxiliary_head_scores_with_the_decode_heads_encoding_of_a_frozen_vocabulary():
    """A frozen, shared text encoder encodes a vocabulary once for both heads,
    in training (one prompt per class and template) and at test (their
    ensemble, the same prompts averaged), and both score with the same class
    embeddings; a new vocabulary is encoded anew, once."""
    from unittest import mock

    from icar_mm.apis import set_vocabulary

    model = build_segmentor()
    set_vocabulary(model, 'synthetic')
    decode, auxiliary = model.decode_head.classifier, model.auxiliary_head.classifier
    encoder = decode.text_encoder
    assert encoder.frozen and auxiliary.text_encoder is encoder
    with mock.patch.object(encoder, 'encode_tokens', wraps=encoder.encode_tokens) as encode:
        model.train()
        decode.class_embeddings(), auxiliary.class_embeddings()  # each draws its own templates from the table
        assert encode.call_count == 1  # the per-template table
        model.eval()
        torch.testing.assert_close(decode.class_embeddings(), auxiliary.class_embeddings(), rtol=0, atol=0)
        assert encode.call_count == 1  # the test ensemble is the table's mean
        set_vocabulary(model, ['sky', 'road'])
        torch.testing.assert_close(decode.class_embeddings(), auxiliary.class_embeddings(), rtol=0, atol=0)
        assert encode.call_count == 2


def test_loss_ignores_classes_outside_training_and_scores_background_in_place():
    """Zero-shot training: unseen logits leave the softmax and their pixels are
    ignored; VOC's background class is a learned embedding, not text."""
    from icar_mm.classifier import TrainClasses
    from icar_mm.datasets.synthetic import ALL_CLASSES, NOVEL_CLASSES

    model = build_segmentor(ZS_CONFIG).train()
    head = model.decode_head
    vocabulary = ('background',) + ALL_CLASSES
    head.classifier.set_vocabulary(list(vocabulary))
    assert head.classifier._text_vocabulary().names == ALL_CLASSES  # no prompt for 'background'
    assert torch.equal(
        head.classifier.class_embeddings()[0],
        torch.nn.functional.normalize(head.classifier.background_embedding, dim=0),
    )
    novel = [vocabulary.index(n) for n in NOVEL_CLASSES]
    gt = torch.zeros(64, 64, dtype=torch.long)
    gt[:32] = novel[0]
    gt[32:, :32] = 1
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    sample = SegDataSample(gt_sem_seg=PixelData(data=gt[None]))
    logits = torch.randn(1, len(vocabulary), 64, 64, requires_grad=True)
    head.loss_by_feat(logits, [sample])['loss_ce'].backward()
    assert logits.grad[:, novel].abs().max() == 0, 'unseen logits must leave the softmax'
    assert logits.grad[..., :32, :].abs().max() == 0, 'pixels of unseen classes must be ignored'
    assert logits.grad[:, 0, 32:].abs().sum() > 0, 'background is supervised'
    head.train_classes = TrainClasses(None)
    logits.grad = None
    head.loss_by_feat(logits, [sample])['loss_ce'].backward()
    assert logits.grad[:, novel].abs().max() > 0


def test_segmentation_configs_resolve():
    """Every shipped segmentation config reads (mmseg:: bases) and builds our
    segmentor, head and hook; the VOC zero-shot split leaves the standard five
    classes unseen and scores VOC's class 0 with the background embedding."""
    from mmengine.config import Config
    from mmseg.registry import DATASETS, HOOKS, MODELS

    from icar_mm.engine import VocabularyHook
    from icar_mm.models import TextCosineUPerHead, TextEncoderDecoder
    from icar_mm.text.vocabulary import load_vocabulary

    configs = sorted(glob.glob(osp.join(REPO, 'configs', 'segmentation', '*.py')))
    assert len(configs) >= 6
    for path in configs:
        cfg = Config.fromfile(path)
        assert MODELS.get(cfg.model.type) is TextEncoderDecoder, path
        assert MODELS.get(cfg.model.decode_head.type) is TextCosineUPerHead, path
        assert VocabularyHook in [HOOKS.get(h['type']) for h in cfg.custom_hooks], path
    zs = Config.fromfile(
        osp.join(REPO, 'configs', 'segmentation', 'upernet_icar-swin-t_cosine_8xb2-20k_voc12aug-zs15-512x512.py')
    )
    assert load_vocabulary(zs.test_evaluator.unseen_classes).names == (
        'pottedplant',
        'sheep',
        'sofa',
        'train',
        'tvmonitor',
    )
    voc = DATASETS.get(zs.test_dataloader.dataset.type).METAINFO['classes']
    assert zs.model.decode_head.classifier.background_class == voc[0]


@pytest.mark.slow
def test_ade20k_config_trains_tests_and_segments_any_vocabulary(seg_data, trained_segmentor, tmp_path):
    ckpt, options = trained_segmentor.checkpoint, trained_segmentor.options
    assert osp.basename(ckpt) == 'iter_4.pth'  # trained to the end of its schedule
    out = run_tool('tools/test.py', CONFIG, ckpt, '--work-dir', tmp_path / 'test', '--cfg-options', *options)
    assert 'mIoU' in out and 'per class results' in out, out[-3000:]

    images = sorted(glob.glob(osp.join(seg_data, 'img_dir', 'val', '*.jpg')))[:2]
    out_dir = tmp_path / 'segment'
    run_tool(
        'tools/segment.py',
        CONFIG,
        ckpt,
        *images,
        '--classes',
        'red square, blue circle, green cross',
        '--out-dir',
        out_dir,
    )
    summary = json.load(open(out_dir / 'segments.json'))
    assert summary['classes'] == ['red square', 'blue circle', 'green cross']
    for image in images:
        name = osp.splitext(osp.basename(image))[0]
        label_map = cv2.imread(str(out_dir / 'label_maps' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        assert label_map.shape == (64, 64) and label_map.max() < 3
        vis = cv2.imread(str(out_dir / 'vis' / f'{name}.png'))
        assert vis.shape[0] == 64 and vis.shape[1] > 64  # overlay + legend


@pytest.mark.slow
def test_zero_shot_config_trains_on_seen_and_reports_unseen(tmp_path):
    from icar_mm.datasets.synthetic import ALL_CLASSES, write_segmentation_set

    root = str(tmp_path / 'data')
    classes = ('background',) + ALL_CLASSES
    for split, seed in (('train', 0), ('val', 1)):
        write_segmentation_set(root, split, num_images=6, seed=seed, classes=classes, background_class='background')
    work = tmp_path / 'work'
    options = data_root_options(root)
    run_tool('tools/train.py', ZS_CONFIG, '--work-dir', work, '--cfg-options', *options)
    out = run_tool(
        'tools/test.py', ZS_CONFIG, work / 'iter_4.pth', '--work-dir', tmp_path / 'test', '--cfg-options', *options
    )
    metrics = json.loads(open(sorted(glob.glob(str(tmp_path / 'test' / '*' / '*.json')))[-1]).read())
    for key in ('mIoU', 'mIoU_seen', 'mIoU_unseen', 'hIoU'):
        assert key in metrics, out[-3000:]
