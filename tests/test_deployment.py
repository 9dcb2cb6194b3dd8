"""ONNX export (icar_mm/deployment.py, tools/deployment/export_onnx.py) of the
session-trained detector, segmentor and recogniser, run in onnxruntime
against the hosts' own inference (mmdet's inference_detector, mmseg's
inference_model, mmaction's inference_recognizer) on the same files: baked
vocabularies, and a vocabulary-input graph fed the class embeddings of a new
vocabulary."""

import json
import os.path as osp

import cv2
import numpy as np
import pytest
from conftest import run_tool

pytest.importorskip('onnxruntime')

NOVEL = 'synthetic:novel'


def session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])


def first_file(folder, suffix):
    import glob

    return sorted(glob.glob(osp.join(folder, '**', f'*{suffix}'), recursive=True))[0]


def assert_same_detections(onnx_out, reference, score_thr=0.05):
    """Every detection of mmdet's above ``score_thr`` is in the export's, by index (both
    sort by score), box IoU > 0.99, score within 1e-4, same label, pasted mask IoU > 0.99. -> how many were compared."""
    import torch
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
    from mmdet.structures.bbox import bbox_overlaps

    boxes, scores, labels, masks = onnx_out
    ref_boxes, ref_scores = reference.bboxes.numpy(), reference.scores.numpy()
    kept = ref_scores > score_thr
    n = int(kept.sum())
    assert n > 0 and len(boxes) >= n
    iou = bbox_overlaps(torch.from_numpy(boxes[:n]), torch.from_numpy(ref_boxes[:n]), is_aligned=True).numpy()
    assert iou.min() > 0.99, iou.min()
    np.testing.assert_allclose(scores[:n], ref_scores[:n], atol=1e-4, rtol=0)
    assert (labels[:n] == reference.labels.numpy()[:n]).all()
    h, w = reference.masks.shape[1:]
    pasted, _ = _do_paste_mask(torch.from_numpy(masks[:n, None]), torch.from_numpy(boxes[:n]), h, w, skip_empty=False)
    pasted, ref_masks = pasted.numpy() > 0.5, reference.masks.numpy()[:n]
    mask_iou = (pasted & ref_masks).sum((1, 2)) / np.maximum((pasted | ref_masks).sum((1, 2)), 1)
    assert mask_iou.min() > 0.99, mask_iou.min()
    return n


@pytest.mark.slow
def test_detector_exports_with_its_vocabulary_baked_in_or_as_an_input(trained_detector, ov_det_data, tmp_path):
    """Mask R-CNN's RPN, RoI stages and NMS in the graph: the detections mmdet's
    inference_detector makes of the same image (boxes IoU > 0.99, scores within
    1e-4, labels, masks), through the tool's vocabulary-input export fed the
    checkpoint's embeddings and a baked export of a new vocabulary, which the input
    graph fed that vocabulary's embeddings reproduces; the onnxruntime-only example,
    given the new vocabulary's name, draws what the graph found."""
    from mmdet.apis import inference_detector

    from icar_mm.apis import init_model
    from icar_mm.deployment import class_embeddings_of, export_onnx

    ckpt, config = trained_detector.checkpoint, trained_detector.config
    onnx_in, vocab = tmp_path / 'det_input.onnx', tmp_path / 'novel.npz'
    run_tool('tools/deployment/export_onnx.py', config, ckpt, '--out', onnx_in, '--vocabulary-input')
    run_tool('tools/deployment/export_onnx.py', config, ckpt, '--class-embeddings', vocab, '--vocabulary', NOVEL)
    info = json.loads(open(f'{onnx_in}.json').read())
    assert info['task'] == 'detection' and info['outputs'] == ['boxes', 'scores', 'labels', 'masks']
    _, _, h, w = info['inputs']['image']

    bgr = cv2.resize(cv2.imread(first_file(ov_det_data, '.jpg')), (w, h))  # mmdet's Resize keeps it as it is
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), bgr)
    rgb = bgr[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None].copy()

    model = init_model(config, ckpt, device='cpu')
    reference = inference_detector(model, str(image)).pred_instances
    _, own = class_embeddings_of(model)
    assert_same_detections(session(onnx_in).run(None, {'image': rgb, 'class_embeddings': own}), reference)

    novel = np.load(vocab)
    model = init_model(config, ckpt, vocabulary=NOVEL, device='cpu')
    novel_reference = inference_detector(model, str(image)).pred_instances
    baked = export_onnx(model, str(tmp_path / 'det_novel.onnx'))
    assert baked['classes'] == list(novel['classes'])
    from_baked = session(tmp_path / 'det_novel.onnx').run(None, {'image': rgb})
    from_input = session(onnx_in).run(None, {'image': rgb, 'class_embeddings': novel['embeddings']})
    assert_same_detections(from_baked, novel_reference)
    for a, b in zip(from_input, from_baked):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)

    out = tmp_path / 'onnx_out'  # the new vocabulary encoded by the exported text tower
    run_tool('tools/deployment/onnx_infer.py', onnx_in, image, '--vocabulary', NOVEL, '--out-dir', out)
    found = json.loads((out / 'detections.json').read_text())['images'][str(image)]
    boxes, scores, labels, _ = from_input
    assert [d['name'] for d in found] == [str(novel['classes'][c]) for c in labels[scores >= 0.3]]
    assert cv2.imread(str(out / 'vis' / 'image.png')).shape[2] == 3


@pytest.mark.slow
def test_segmentor_exports_with_its_vocabulary_baked_in_or_as_an_input(trained_segmentor, seg_data, tmp_path):
    """The tool's vocabulary-input export and a baked export of a new
    vocabulary: logits within 1e-4 of mmseg's inference_model on the same
    image (read by the same pipeline, RGB), the same label map, and the
    input graph fed the new vocabulary's embeddings (the tool's .npz) equals
    the baked export of that vocabulary."""
    from mmseg.apis import inference_model

    from icar_mm.apis import init_model
    from icar_mm.deployment import class_embeddings_of, export_onnx

    ckpt, config = trained_segmentor.checkpoint, trained_segmentor.config
    onnx_in, vocab = tmp_path / 'seg_input.onnx', tmp_path / 'novel.npz'
    run_tool('tools/deployment/export_onnx.py', config, ckpt, '--out', onnx_in, '--vocabulary-input')
    run_tool('tools/deployment/export_onnx.py', config, ckpt, '--class-embeddings', vocab, '--vocabulary', NOVEL)
    info = json.loads(open(f'{onnx_in}.json').read())
    assert info['task'] == 'segmentation' and info['vocabulary'] == 'input' and 'classes' not in info
    _, _, h, w = info['inputs']['image']

    source = first_file(seg_data, '.jpg')
    bgr = cv2.resize(cv2.imread(source), (w, h))  # at the graph's size, so mmseg's pipeline resizes nothing
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), bgr)
    rgb = bgr[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None].copy()

    model = init_model(config, ckpt, device='cpu')
    reference = inference_model(model, str(image)).seg_logits.data.numpy()
    _, own = class_embeddings_of(model)
    logits, labels = session(onnx_in).run(None, {'image': rgb, 'class_embeddings': own})
    assert logits.shape == (1, len(own), h, w)
    np.testing.assert_allclose(logits[0], reference, atol=1e-4, rtol=0)
    assert (labels[0] == reference.argmax(0)).mean() > 0.999  # ties may break either way

    novel = np.load(vocab)
    assert len(novel['classes']) == 4 and novel['embeddings'].shape == (4, own.shape[1])
    model = init_model(config, ckpt, vocabulary=NOVEL, device='cpu')
    novel_reference = inference_model(model, str(image)).seg_logits.data.numpy()
    baked = export_onnx(model, str(tmp_path / 'seg_novel.onnx'))
    assert baked['classes'] == list(novel['classes']) and baked['vocabulary'] == 'baked'
    (from_input, _), (from_baked, _) = (
        session(onnx_in).run(None, {'image': rgb, 'class_embeddings': novel['embeddings']}),
        session(tmp_path / 'seg_novel.onnx').run(None, {'image': rgb}),
    )
    np.testing.assert_allclose(from_input, from_baked, atol=1e-5, rtol=0)
    np.testing.assert_allclose(from_baked[0], novel_reference, atol=1e-4, rtol=0)

    # the onnxruntime-only example: the new vocabulary's classes, by area, as the graph labels them
    out = tmp_path / 'onnx_out'
    run_tool('tools/deployment/onnx_infer.py', onnx_in, image, '--class-embeddings', vocab, '--out-dir', out)
    segments = json.loads((out / 'segments.json').read_text())
    assert segments['classes'] == list(novel['classes'])
    found = {s['name'] for s in segments['images'][str(image)]}
    assert found == {str(novel['classes'][c]) for c in np.unique(from_input.argmax(1))}
    assert cv2.imread(str(out / 'vis' / 'image.png')).shape[2] == 3


@pytest.mark.slow
def test_recognizer_exports_with_its_vocabulary_baked_in_or_as_an_input(trained_recognizer, video_data, tmp_path):
    """The views of one clip as the test pipeline makes them (clips x crops):
    view-averaged scores within 1e-4 of mmaction's inference_recognizer on the
    same video, for the checkpoint's vocabulary through the input graph and a
    new one baked in."""
    from mmaction.apis import inference_recognizer
    from mmengine.dataset import Compose

    from icar_mm.apis import init_model
    from icar_mm.deployment import class_embeddings_of, export_onnx

    ckpt, config = trained_recognizer.checkpoint, trained_recognizer.config
    video = first_file(video_data, '.mp4')
    model = init_model(config, ckpt, device='cpu')
    reference = inference_recognizer(model, video).pred_scores.item.numpy()
    views = Compose(model.cfg.test_pipeline)(dict(filename=video, label=-1, start_index=0, modality='RGB'))
    clips = views['inputs'].float().numpy()

    info = export_onnx(model, str(tmp_path / 'rec_input.onnx'), vocabulary_input=True)
    assert info['inputs']['clips'] == list(clips.shape)
    names, own = class_embeddings_of(model)
    (scores,) = session(tmp_path / 'rec_input.onnx').run(None, {'clips': clips, 'class_embeddings': own})
    assert scores.shape == (len(names),)
    np.testing.assert_allclose(scores, reference, atol=1e-4, rtol=0)

    model = init_model(config, ckpt, vocabulary=NOVEL, device='cpu')
    novel_reference = inference_recognizer(model, video).pred_scores.item.numpy()
    export_onnx(model, str(tmp_path / 'rec_novel.onnx'))
    (baked,) = session(tmp_path / 'rec_novel.onnx').run(None, {'clips': clips})
    _, novel = class_embeddings_of(model)
    (from_input,) = session(tmp_path / 'rec_input.onnx').run(None, {'clips': clips, 'class_embeddings': novel})
    np.testing.assert_allclose(baked, novel_reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(from_input, baked, atol=1e-5, rtol=0)


def test_export_refuses_a_model_without_a_text_generated_classifier():
    """A host model (mmseg's linear UPerHead) cannot take a vocabulary: the error names what is missing."""
    import torch.nn as nn

    from icar_mm.deployment import _classifier

    model = nn.Module()
    model.decode_head = nn.Module()
    with pytest.raises(ValueError, match='no text-generated classifier'):
        _classifier(model, 'segmentation')


@pytest.mark.slow
@pytest.mark.parametrize('tower', ['roberta', 'open_clip'])
def test_the_exported_text_tower_encodes_a_new_vocabulary_without_torch(tower, tmp_path):
    """A vocabulary-input export's text path (icar_mm/deployment.py:
    export_text_encoder, tools/deployment/onnx_text.py) run where torch cannot be
    imported makes the class embeddings the PyTorch classifier scores with: iCAR's
    RoBERTa tower with its byte-level BPE (prompts cut at 16 tokens) and an open_clip
    tower with CLIP's BPE, enriched prompts of 14 templates, and a background class
    in its place keeping its learned weight."""
    import subprocess
    import sys

    import torch
    from conftest import REPO
    from real_layout import build_roberta_dir

    from icar_mm.classifier import TextCosineClassifier
    from icar_mm.deployment import export_text_encoder

    if tower == 'roberta':
        encoder = dict(type='icar_mm.ICARTextEncoder', model_path=build_roberta_dir(str(tmp_path)))
    else:
        encoder = dict(type='icar_mm.OpenCLIPTextEncoder', model_name='tiny-random-clip')
    torch.manual_seed(0)
    names = ['red circle', 'background', 'hot air balloon', 'Blue  Cross']
    classifier = TextCosineClassifier(
        text_encoder=encoder,
        vocabulary=names,
        templates='vild14',
        enriched=True,
        background='learned',
        background_class='background',
    ).eval()
    torch.nn.init.normal_(classifier.background_embedding)
    model = tmp_path / 'model.onnx'
    (tmp_path / 'model.onnx.json').write_text(
        json.dumps(dict(text=export_text_encoder(classifier, str(tmp_path / 'model'))))
    )
    script = (
        "import sys; sys.modules['torch'] = None; sys.path.insert(0, 'tools/deployment'); import numpy as np; "
        'from onnx_text import vocabulary_embeddings; '
        f'names, e = vocabulary_embeddings({str(model)!r}, {names!r}); np.save({str(tmp_path / "e.npy")!r}, e)'
    )
    proc = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with torch.no_grad():
        reference = classifier.class_embeddings().numpy()
    np.testing.assert_allclose(np.load(tmp_path / 'e.npy'), reference, atol=1e-5, rtol=0)
