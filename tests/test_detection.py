"""Detection: the iCAR Swin backbone's loading, the cosine box head, and the
OV-COCO config path end to end on synthetic data."""

import glob
import json
import os.path as osp

import pytest
import torch
from conftest import REPO, TEST_CONFIGS, run_tool
from real_layout import timm_to_microsoft

OV_CONFIG = osp.join(TEST_CONFIGS, 'tiny_ov_mask_rcnn.py')
TINY_SWIN = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8], window_size=7)


def build_backbone(**kwargs):
    from icar_mm.models import ICARSwin

    return ICARSwin(**{**TINY_SWIN, **kwargs})


def timm_swin():
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    model = timm.create_model(
        'swin_tiny_patch4_window7_224',
        pretrained=False,
        img_size=448,
        embed_dim=32,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        num_classes=10,
    ).eval()
    # random, non-trivial norms and biases too
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def test_microsoft_swin_checkpoint_gives_reference_features(tmp_path):
    """timm's Swin saved in Microsoft layout, converted and loaded into ours:
    same features within 1e-5 at every stage."""
    ref = timm_swin()
    path = tmp_path / 'swin_ms.pth'
    torch.save({'model': timm_to_microsoft(ref)}, path)
    ours = build_backbone(checkpoint=str(path))
    ours.init_weights()
    ours.eval()
    x = torch.randn(2, 3, 448, 448)
    with torch.no_grad():
        expected = ref.forward_intermediates(x, norm=False, output_fmt='NCHW', intermediates_only=True)
        expected[-1] = ref.norm(expected[-1].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        got = ours(x)
    assert len(got) == 4
    for i, (e, g) in enumerate(zip(expected, got)):
        if i < 3:  # fresh stage norms: LayerNorm without learned affine
            e = torch.nn.functional.layer_norm(e.permute(0, 2, 3, 1), e.shape[1:2]).permute(0, 3, 1, 2)
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5, msg=f'stage {i}')


def test_icar_and_own_layouts_load(tmp_path):
    ref = timm_swin()
    ms = timm_to_microsoft(ref)
    icar = {f'visual_model.backbone.{k}': v for k, v in ms.items()}
    icar['visual_model.projector.weight'] = torch.randn(8, 256)
    icar['sentence_model.embeddings.weight'] = torch.randn(4, 4)
    torch.save({'state_dict': icar}, tmp_path / 'icar.pth')
    from_icar = build_backbone(checkpoint=str(tmp_path / 'icar.pth'))
    from_icar.init_weights()
    # our own saved detector (backbone.* inside a full model) loads back exactly
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in from_icar.state_dict().items()}}, tmp_path / 'own.pth')
    from_own = build_backbone(checkpoint=str(tmp_path / 'own.pth'))
    from_own.init_weights()
    for k, v in from_icar.state_dict().items():
        assert torch.equal(v, from_own.state_dict()[k]), k


def test_bad_backbone_checkpoints_fail_clearly(tmp_path):
    from icar_mm.checkpoints import CheckpointError

    ms = timm_to_microsoft(timm_swin())

    def load(sd, name):
        path = tmp_path / name
        torch.save(sd, path)
        backbone = build_backbone(checkpoint=str(path))
        backbone.init_weights()

    with pytest.raises(CheckpointError, match='Unknown checkpoint layout.*Known layouts'):
        load({'foo.weight': torch.zeros(1)}, 'unknown.pth')
    incomplete = {k: v for k, v in ms.items() if 'layers.1.blocks.0.mlp.fc1' not in k}
    with pytest.raises(CheckpointError, match=r'missing in checkpoint \(2\).*stages\.1\.blocks\.0\.ffn'):
        load(incomplete, 'incomplete.pth')
    with pytest.raises(CheckpointError, match='shape mismatch'):
        path = tmp_path / 'wide.pth'
        torch.save(ms, path)
        build_backbone(checkpoint=str(path), embed_dims=64).init_weights()
    (tmp_path / 'corrupt.pth').write_bytes(b'PK\x03\x04 not really a checkpoint')
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        build_backbone(checkpoint=str(tmp_path / 'corrupt.pth')).init_weights()


def build_detector():
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    cfg = Config.fromfile(OV_CONFIG)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_box_head_ignores_classes_outside_training_vocabulary():
    """Novel classes get zero weight: no gradient into their logits, RoIs
    labelled with them do not count."""
    from icar_mm.classifier import TrainClasses
    from icar_mm.datasets.synthetic import ALL_CLASSES, NOVEL_CLASSES

    head = build_detector().roi_head.bbox_head
    head.classifier.set_vocabulary(list(ALL_CLASSES))
    novel = [ALL_CLASSES.index(n) for n in NOVEL_CLASSES]
    n = 12
    cls_score = torch.randn(n, len(ALL_CLASSES) + 1, requires_grad=True)
    labels = torch.tensor([novel[0]] * 4 + [0] * 4 + [len(ALL_CLASSES)] * 4)
    weights = torch.ones(n)
    losses = head.loss(cls_score, None, None, labels, weights, None, None)
    losses['loss_cls'].backward()
    grad = cls_score.grad
    assert grad[:, novel].abs().max() == 0, 'novel logits must leave the softmax'
    assert grad[:4].abs().max() == 0, 'RoIs labelled with a novel class must be ignored'
    assert grad[4:].abs().sum() > 0
    # the same RoIs, all classes trained: novel logits do get gradient
    head.train_classes = TrainClasses(None)
    cls_score.grad = None
    head.loss(cls_score, None, None, labels, weights, None, None)['loss_cls'].backward()
    assert cls_score.grad[:, novel].abs().max() > 0


def test_vocabulary_swap_changes_detected_classes(det_data):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    model = build_detector().eval()
    head = model.roi_head.bbox_head
    image = torch.rand(1, 3, 128, 128) * 255
    sample = DetDataSample(
        metainfo=dict(img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1.0, 1.0), batch_input_shape=(128, 128))
    )
    sample.gt_instances = InstanceData()
    model.roi_head.test_cfg.score_thr = 0.0
    for vocabulary in (['red circle', 'blue square'], ['cat', 'dog', 'zebra', 'kite', 'train']):
        head.classifier.set_vocabulary(vocabulary)
        with torch.no_grad():
            inputs = model.data_preprocessor(dict(inputs=[image[0]], data_samples=[sample]))
            result = model.predict(inputs['inputs'], inputs['data_samples'])[0]
        assert head.num_classes == len(vocabulary)
        labels = result.pred_instances.labels
        assert len(labels) > 0 and labels.max() < len(vocabulary)


@pytest.mark.slow
def test_ov_coco_config_trains_and_reports_base_and_novel(ov_det_data, trained_detector, tmp_path):
    from icar_mm.datasets.synthetic import ALL_CLASSES, BASE_CLASSES

    with open(osp.join(ov_det_data, 'annotations', 'train.json')) as f:
        train = json.load(f)
    base_ids = {i + 1 for i, n in enumerate(ALL_CLASSES) if n in BASE_CLASSES}
    assert {a['category_id'] for a in train['annotations']} <= base_ids
    config, ckpt, options = trained_detector.config, trained_detector.checkpoint, trained_detector.options
    out = run_tool('tools/test.py', config, ckpt, '--work-dir', tmp_path / 'test', '--cfg-options', *options)
    for key in ('coco/base_ap50', 'coco/novel_ap50', 'coco/base_ap', 'coco/novel_ap'):
        assert key in out, out[-3000:]

    # custom-vocabulary inference through mmdet's DetInferencer, novel classes named
    images = sorted(glob.glob(osp.join(ov_det_data, 'images', 'val', '*.jpg')))[:2]
    out_dir = tmp_path / 'detect'
    run_tool(
        'tools/detect.py',
        config,
        ckpt,
        *images,
        '--classes',
        'red square, blue circle',
        '--out-dir',
        out_dir,
        '--score-thr',
        '0',
    )
    result = json.load(open(out_dir / 'detections.json'))
    assert result['classes'] == ['red square', 'blue circle']
    assert [r['image'] for r in result['results']] == images
    labels = {d['label'] for r in result['results'] for d in r['detections']}
    assert labels and labels <= {'red square', 'blue circle'}
    assert sorted(p.name for p in (out_dir / 'vis').iterdir()) == [osp.basename(i) for i in images]


def test_ov_coco_converter(tmp_path):
    from icar_mm.text.vocabulary import load_vocabulary

    coco = load_vocabulary('coco')
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(coco.names)]
    base, novel = load_vocabulary('coco:ov_base').names, load_vocabulary('coco:ov_novel').names
    other = [n for n in coco.names if n not in base + novel][0]
    cid = {c['name']: c['id'] for c in categories}
    images = [dict(id=i, file_name=f'{i}.jpg', width=10, height=10) for i in (1, 2, 3)]
    anns = [
        dict(id=1, image_id=1, category_id=cid[base[0]]),
        dict(id=2, image_id=1, category_id=cid[novel[0]]),
        dict(id=3, image_id=2, category_id=cid[novel[1]]),
        dict(id=4, image_id=3, category_id=cid[other]),
    ]
    for split in ('train2017', 'val2017'):
        with open(tmp_path / f'instances_{split}.json', 'w') as f:
            json.dump(dict(images=images, annotations=anns, categories=categories), f)
    run_tool(osp.join(REPO, 'tools', 'dataset_converters', 'ov_coco.py'), tmp_path)
    train = json.load(open(tmp_path / 'instances_train2017_ov-base.json'))
    val = json.load(open(tmp_path / 'instances_val2017_ov-all.json'))
    assert [a['id'] for a in train['annotations']] == [1]
    assert [im['id'] for im in train['images']] == [1]  # images without base boxes dropped
    assert [a['id'] for a in val['annotations']] == [1, 2, 3]
    assert len(val['images']) == 3 and len(train['categories']) == len(val['categories']) == 65
