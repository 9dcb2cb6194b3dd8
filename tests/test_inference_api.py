"""The inference API (icar_mm.init_model / icar_mm.inference) for detection,
segmentation and recognition, and the three tools built on it."""

import glob
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from conftest import TEST_CONFIGS, run_tool, run_tool_failing

DET = osp.join(TEST_CONFIGS, 'tiny_ov_mask_rcnn.py')
SEG = osp.join(TEST_CONFIGS, 'tiny_upernet.py')
VIDEO = osp.join(TEST_CONFIGS, 'tiny_video_swin.py')
TWO = ['red square', 'blue circle']


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A checkpoint per task, written as mmengine does, of a freshly built model."""
    from icar_mm import init_model

    root = tmp_path_factory.mktemp('checkpoints')
    paths = {}
    for task, config in (('det', DET), ('seg', SEG), ('video', VIDEO)):
        torch.manual_seed(0)
        model = init_model(config, device='cpu')
        paths[task] = str(root / f'{task}.pth')
        torch.save({'state_dict': model.state_dict()}, paths[task])
    return paths


def det_images(det_data, n=2):
    return sorted(glob.glob(osp.join(det_data, 'images', 'val', '*.jpg')))[:n]


def seg_images(seg_data, n=2):
    return sorted(glob.glob(osp.join(seg_data, 'img_dir', 'val', '*.jpg')))[:n]


def videos(video_data, n=2):
    return sorted(glob.glob(osp.join(video_data, 'videos', 'val', '*.mp4')))[:n]


def classifier_of(model):
    from icar_mm.classifier import iter_classifiers

    return next(iter_classifiers(model))


# --- the three tasks ---------------------------------------------------------------------
def test_detection_loads_the_checkpoint_and_predicts_paths_and_arrays(det_data, checkpoints):
    from mmdet.structures import DetDataSample

    from icar_mm import inference, init_model

    model = init_model(DET, checkpoints['det'], vocabulary=TWO, device='cpu')
    saved = torch.load(checkpoints['det'], weights_only=True)['state_dict']
    key = next(k for k in saved if k.startswith('backbone.'))
    assert torch.equal(model.state_dict()[key], saved[key])
    assert not model.training and model.dataset_meta['classes'] == tuple(TWO)
    assert len(model.dataset_meta['palette']) == 2

    images = det_images(det_data)
    one = inference(model, images[0])
    assert isinstance(one, DetDataSample) and one.classes == tuple(TWO)
    assert len(one.pred_instances) > 0 and one.pred_instances.labels.max() < 2
    # arrays, then paths again: the config's pipeline is left as it was
    from_array = inference(model, cv2.imread(images[0]))
    torch.testing.assert_close(from_array.pred_instances.scores, one.pred_instances.scores)
    both = inference(model, images)
    assert isinstance(both, list) and len(both) == 2 and all(isinstance(s, DetDataSample) for s in both)
    assert [s.img_path for s in both] == images
    assert inference(model, []) == []


def test_segmentation_predicts_label_maps_of_the_vocabulary(seg_data, checkpoints):
    from mmseg.structures import SegDataSample

    from icar_mm import inference, init_model

    model = init_model(SEG, checkpoints['seg'], device='cpu')
    from icar_mm.datasets.synthetic import ALL_CLASSES

    assert model.dataset_meta['classes'] == ALL_CLASSES  # the checkpoint's (the config's dataset classes)
    image = seg_images(seg_data, 1)[0]
    samples = inference(model, [image, cv2.imread(image), image], vocabulary='synthetic:novel')
    assert len(samples) == 3 and all(isinstance(s, SegDataSample) for s in samples)
    for sample in samples:
        assert sample.pred_sem_seg.data.shape == (1, 64, 64) and sample.pred_sem_seg.data.max() < 4
        assert sample.seg_logits.data.shape[0] == 4 and len(sample.classes) == 4
    assert torch.equal(samples[0].pred_sem_seg.data, samples[1].pred_sem_seg.data)
    assert torch.equal(samples[0].pred_sem_seg.data, samples[2].pred_sem_seg.data)


def test_recognition_scores_every_class_of_the_vocabulary(video_data, checkpoints):
    from mmaction.structures import ActionDataSample

    from icar_mm import inference, init_model

    model = init_model(VIDEO, checkpoints['video'], vocabulary='synthetic:novel', device='cpu')
    clips = videos(video_data)
    one = inference(model, clips[0])
    assert isinstance(one, ActionDataSample) and one.pred_scores.item.shape == (4,)
    assert abs(float(one.pred_scores.item.sum()) - 1) < 1e-4  # 'prob' averaging over the views
    both = inference(model, clips, vocabulary=['red circle', 'juggling balls'])
    assert len(both) == 2 and all(s.pred_scores.item.shape == (2,) for s in both)
    assert both[0].classes == ('red circle', 'juggling balls')


def test_vocabulary_changes_between_calls_and_reuses_cached_embeddings(seg_data):
    from icar_mm import inference, init_model

    model = init_model(SEG, device='cpu')  # random weights; the config's dataset classes
    encoder = classifier_of(model).text_encoder
    calls = []
    original = encoder.encode_tokens
    encoder.encode_tokens = lambda tokens: calls.append(len(tokens)) or original(tokens)
    image = seg_images(seg_data, 1)[0]
    first = ['red circle', 'blue square']
    other = ['sky', 'road', 'tree']
    assert inference(model, image, vocabulary=first).seg_logits.data.shape[0] == 2
    encoded = len(calls)
    assert encoded > 0
    sample = inference(model, image, vocabulary=other)
    assert sample.classes == tuple(other) and sample.seg_logits.data.shape[0] == 3
    assert model.dataset_meta['classes'] == tuple(other)
    assert len(calls) > encoded
    encoded = len(calls)
    assert inference(model, image, vocabulary=first).classes == tuple(first)
    assert inference(model, image).classes == tuple(first)  # kept for later calls
    assert len(calls) == encoded  # switching back is a cache hit: the text encoder did not run


# --- class weights in place of a vocabulary ---------------------------------------------
def test_class_weights_files_replace_the_vocabulary(det_data, checkpoints, tmp_path):
    from icar_mm import inference, init_model
    from icar_mm.classifier import CLASS_WEIGHTS_FORMAT

    model = init_model(DET, checkpoints['det'], vocabulary=TWO, device='cpu')
    weights = str(tmp_path / 'two.pth')
    classifier_of(model).export_class_weights(weights)
    image = det_images(det_data, 1)[0]
    expected = inference(model, image)

    from_file = init_model(DET, checkpoints['det'], vocabulary=weights, device='cpu')
    clf = classifier_of(from_file)
    assert clf._exported is not None and clf.class_names == tuple(TWO)
    assert from_file.dataset_meta['classes'] == tuple(TWO)
    sample = inference(from_file, image)
    torch.testing.assert_close(sample.pred_instances.scores, expected.pred_instances.scores)
    # text again, then the weights file again, through inference
    three = ['red circle', 'blue square', 'green cross']
    assert inference(from_file, image, vocabulary=three).classes == tuple(three)
    assert clf._exported is None and clf.num_classes == 3
    assert inference(from_file, image, vocabulary=weights).classes == tuple(TWO)

    from icar_mm.text.vocabulary import load_vocabulary

    narrow = str(tmp_path / 'narrow.pth')
    torch.save(
        dict(
            format=CLASS_WEIGHTS_FORMAT,
            vocabulary=load_vocabulary(TWO).to_dict(),
            templates=['{}'],
            enriched=False,
            embeddings=torch.nn.functional.normalize(torch.randn(2, 7)),
        ),
        narrow,
    )
    with pytest.raises(ValueError, match=f'holds 7-d class weights, but this classifier works in {clf.embed_dim}-d'):
        inference(from_file, image, vocabulary=narrow)
    with pytest.raises(ValueError, match='is not an icar_mm class-weights file'):
        inference(from_file, image, vocabulary=checkpoints['det'])


# --- bad input ------------------------------------------------------------------------------
def test_bad_checkpoints_vocabularies_and_configs_fail_clearly(seg_data, checkpoints):
    from mmengine.config import Config

    from icar_mm import inference, init_model
    from icar_mm.apis import task_of
    from icar_mm.checkpoints import CheckpointError

    with pytest.raises(
        CheckpointError,
        match=r'holds a segmentor \(its heads: decode_head\), '
        'but the config builds a detector',
    ):
        init_model(DET, checkpoints['seg'], device='cpu')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        init_model(osp.join(TEST_CONFIGS, 'no_such_config.py'))
    with pytest.raises(ValueError, match="default_scope 'icar_mm'.*detection.*segmentation.*recognition"):
        task_of(Config(dict(default_scope='icar_mm')))

    # a config naming no classes anywhere and no checkpoint: inference asks for a vocabulary
    no_classes = {f'{split}_dataloader.dataset.metainfo': None for split in ('train', 'val', 'test')}
    model = init_model(SEG, device='cpu', cfg_options=no_classes)
    image = seg_images(seg_data, 1)[0]
    with pytest.raises(ValueError, match='The model has no vocabulary.*vocabulary='):
        inference(model, image)
    with pytest.raises(ValueError, match='Empty vocabulary'):
        inference(model, image, vocabulary=[])
    with pytest.raises(ValueError, match=r"Duplicated class names.*\['sky', 'road'\]"):
        inference(model, image, vocabulary=['sky', 'road', 'sky', 'tree', 'road'])
    with pytest.raises(KeyError, match='Unknown vocabulary'):
        init_model(SEG, vocabulary='cocoo', device='cpu')
    with pytest.raises(ValueError, match=r"at least two classes, got only \['sky'\]"):
        inference(model, image, vocabulary=['sky'])
    assert inference(model, image, vocabulary=['sky', 'road']).classes == ('sky', 'road')


@pytest.mark.parametrize('content,found', [(b'', 'an empty file'), (b'not an image' * 9, '108 bytes starting with')])
def test_unreadable_images_are_named(seg_data, tmp_path, content, found):
    from icar_mm import inference, init_model
    from icar_mm.datasets import ImageReadError

    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(content)
    model = init_model(SEG, vocabulary=TWO, device='cpu')
    with pytest.raises(ImageReadError, match=f'Cannot read image {broken}: .*found {found}'):
        inference(model, [seg_images(seg_data, 1)[0], str(broken)])
    with pytest.raises(FileNotFoundError, match="Image file '.*missing.jpg' does not exist"):
        inference(model, str(tmp_path / 'missing.jpg'))
    with pytest.raises(TypeError, match='an image file path or a numpy array'):
        inference(model, 3)


def test_unreadable_videos_are_named(tmp_path, checkpoints):
    from icar_mm import inference, init_model
    from icar_mm.datasets import VideoReadError

    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video' * 10)
    model = init_model(VIDEO, checkpoints['video'], device='cpu')
    with pytest.raises(VideoReadError, match=f"Cannot read video '{broken}'"):
        inference(model, str(broken))
    with pytest.raises(FileNotFoundError, match="Video file '.*missing.mp4' does not exist"):
        inference(model, str(tmp_path / 'missing.mp4'))


# --- the tools: one shape, the same flags -------------------------------------------------
def test_detect_tool(det_data, checkpoints, tmp_path):
    out_dir = tmp_path / 'detect'
    folder = osp.join(det_data, 'images', 'val')
    images = sorted(glob.glob(osp.join(folder, '*.jpg')))
    out = run_tool(
        'tools/detect.py',
        DET,
        checkpoints['det'],
        folder,
        '--classes',
        'red square, blue circle',
        '--score-thr',
        '0',
        '--device',
        'cpu',
        '--out-dir',
        out_dir,
        '--cfg-options',
        'model.test_cfg.rcnn.max_per_img=5',
    )
    assert f'0/{len(images)}' in out and f'{len(images)}/{len(images)}' in out  # the progress bar
    result = json.load(open(out_dir / 'detections.json'))
    assert result['classes'] == TWO and [r['image'] for r in result['results']] == images
    assert all(0 < len(r['detections']) <= 5 for r in result['results'])
    assert {d['label'] for r in result['results'] for d in r['detections']} <= set(TWO)
    assert sorted(p.name for p in (out_dir / 'vis').iterdir()) == [osp.basename(i) for i in images]


def test_segment_tool(seg_data, checkpoints, tmp_path):
    out_dir = tmp_path / 'segment'
    images = seg_images(seg_data)
    run_tool(
        'tools/segment.py',
        SEG,
        checkpoints['seg'],
        *images,
        '--vocabulary',
        'synthetic:novel',
        '--score-thr',
        '0.3',
        '--device',
        'cpu',
        '--out-dir',
        out_dir,
    )
    summary = json.load(open(out_dir / 'segments.json'))
    assert len(summary['classes']) == 4
    for image, item in zip(images, summary['results']):
        assert item['image'] == image
        assert all(c['label'] in summary['classes'] and c['score'] >= 0.3 for c in item['classes'])
        name = osp.splitext(osp.basename(image))[0]
        label_map = cv2.imread(str(out_dir / 'label_maps' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        assert label_map.shape == (64, 64) and set(np.unique(label_map)) <= {0, 1, 2, 3, 255}
        area = sum(c['area'] for c in item['classes'])
        assert area == pytest.approx(float((label_map != 255).mean()), abs=1e-3)
        vis = cv2.imread(str(out_dir / 'vis' / f'{name}.png'))
        assert vis.shape[0] == 64 and vis.shape[1] > 64  # overlay + legend


def test_recognize_tool(video_data, checkpoints, tmp_path):
    from icar_mm import init_model

    weights = str(tmp_path / 'weights.pth')
    classifier_of(
        init_model(
            VIDEO, checkpoints['video'], vocabulary=['red circle', 'blue square', 'juggling balls'], device='cpu'
        )
    ).export_class_weights(weights)
    out_dir = tmp_path / 'recognize'
    clips = videos(video_data)
    out = run_tool(
        'tools/recognize.py',
        VIDEO,
        checkpoints['video'],
        *clips,
        '--class-weights',
        weights,
        '--score-thr',
        '0',
        '--device',
        'cpu',
        '--out-dir',
        out_dir,
    )
    result = json.load(open(out_dir / 'recognitions.json'))
    assert result['classes'] == ['red circle', 'blue square', 'juggling balls']
    for clip, item in zip(clips, result['results']):
        assert item['video'] == clip and len(item['classes']) == 3  # every class scores at least 0
        scores = [c['score'] for c in item['classes']]
        assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3
        frame = cv2.imread(str(out_dir / 'vis' / (osp.splitext(osp.basename(clip))[0] + '.jpg')))
        assert frame is not None and frame.shape[:2] == (224, 224)  # 64 px clips, enlarged for the labels
    assert '3 classes scoring at least 0.0 of 3 classes' in out
    out = run_tool(
        'tools/recognize.py',
        VIDEO,
        checkpoints['video'],
        clips[0],
        '--vocabulary',
        'synthetic:novel',
        '--topk',
        '2',
        '--out-dir',
        out_dir,
    )
    assert 'top 2 of 4 classes' in out and len(re.findall(r'^ +([0-9.]+)  (.+)$', out, re.M)) == 2


def test_tools_stop_on_bad_flags_with_the_reason(det_data, checkpoints, tmp_path):
    import argparse

    from conftest import tool_helpers

    image = det_images(det_data, 1)[0]
    out = run_tool_failing(
        'tools/detect.py',
        DET,
        checkpoints['det'],
        image,
        '--classes',
        'red square,blue circle,red square',
        '--out-dir',
        tmp_path / 'a',
    )
    assert 'Duplicated class names' in out and "['red square']" in out and 'Traceback' not in out
    assert not (tmp_path / 'a').exists()

    # the shared flags, as every tool parses them
    common = tool_helpers()
    parser = argparse.ArgumentParser()
    common.add_inference_args(parser, 'images', 'coco', 'out', score_thr=0.3)
    vocab = tmp_path / 'classes.txt'
    vocab.write_text('red square\nblue circle\n')
    args = parser.parse_args([DET, 'ckpt.pth', image, '--class-weights', str(vocab)])
    with pytest.raises(SystemExit, match='not a class-weights file.*--vocabulary'):
        common.requested_vocabulary(args)
    assert common.requested_vocabulary(parser.parse_args([DET, 'c', image, '--vocabulary', str(vocab)])) == str(vocab)
    assert common.requested_vocabulary(parser.parse_args([DET, 'c', image, '--classes', ' a, b ,'])) == ['a', 'b']
    assert (
        common.requested_vocabulary(parser.parse_args([DET, 'c', image, '--classes', ''])) == []
    )  # empty: refused later
    assert common.requested_vocabulary(parser.parse_args([DET, 'c', image])) is None
    with pytest.raises(SystemExit):  # one vocabulary flag at most
        parser.parse_args([DET, 'c', image, '--classes', 'a', '--vocabulary', 'coco'])
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video' * 10)
    with pytest.raises(SystemExit, match=f"Cannot read video '{broken}'"):
        common.list_videos([str(broken)])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='No video files'):
        common.list_videos([str(tmp_path / 'empty')])
