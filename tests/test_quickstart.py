"""The quickstart: the embedded world's generators, the iCAR pre-training
objective and its iCAR-layout export, and a shortened end-to-end run."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO, run_tool

PRETRAIN = osp.join(REPO, 'configs', 'quickstart', 'icar-pretrain_swin-tiny_synthetic.py')


def test_detection_world_is_deterministic_and_never_boxes_novel_classes(tmp_path):
    from icar_mm.datasets.synthetic import ALL_CLASSES, BASE_CLASSES, NOVEL_CLASSES, write_detection_set
    colours = {n.split()[0] for n in BASE_CLASSES}
    shapes = {n.split()[1] for n in BASE_CLASSES}
    assert colours == {n.split()[0] for n in ALL_CLASSES} and shapes == {n.split()[1] for n in ALL_CLASSES}
    runs = []
    for name in ('a', 'b'):
        ann = write_detection_set(str(tmp_path / name), 'train', num_images=12, seed=3, label_classes=BASE_CLASSES)
        runs.append(json.load(open(ann)))
        runs[-1]['pixels'] = open(tmp_path / name / 'images' / 'train' / 'train_00000.jpg', 'rb').read()
    assert runs[0] == runs[1]
    names = {c['id']: c['name'] for c in runs[0]['categories']}
    boxed = {names[a['category_id']] for a in runs[0]['annotations']}
    assert boxed and boxed <= set(BASE_CLASSES)
    captions = ' '.join(c['caption'] for c in runs[0]['captions'])
    assert any(n in captions for n in NOVEL_CLASSES), 'novel classes appear in captions'


def test_pretrain_data_mixes_labels_and_captions_deterministically():
    from icar_mm.datasets import BASE_CLASSES, SyntheticPretrainDataset
    data = SyntheticPretrainDataset(num_labelled=6, num_captioned=4, size=32, seed=1)
    again = SyntheticPretrainDataset(num_labelled=6, num_captioned=4, size=32, seed=1)
    assert len(data) == 10
    for i in range(10):
        a, b = data[i], again[i]
        assert torch.equal(a['inputs'], b['inputs']) and a['data_samples'] == b['data_samples']
        assert a['inputs'].shape == (3, 32, 32) and a['inputs'].dtype == torch.uint8
    assert all(0 <= data[i]['data_samples']['label'] < len(BASE_CLASSES) for i in range(6))
    assert all(data[i]['data_samples']['caption'].startswith('a picture of') for i in range(6, 10))
    assert all(data[i]['data_samples']['label'] == -1 for i in range(6, 10))


def build_pretrainer():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet.registry import MODELS
    cfg = Config.fromfile(PRETRAIN)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model, cfg


def test_objective_trains_both_losses_and_exports_the_icar_layout(tmp_path):
    """One step moves the shared text encoder through both losses; the export
    loads, strictly, into the downstream backbone and text encoder."""
    from icar_mm.datasets import SyntheticPretrainDataset
    model, cfg = build_pretrainer()
    data = SyntheticPretrainDataset(num_labelled=4, num_captioned=4, size=64)
    from mmengine.dataset import pseudo_collate
    batch = model.data_preprocessor(pseudo_collate([data[i] for i in range(8)]), True)
    losses = model(batch['inputs'], batch['data_samples'], mode='loss')
    assert losses['loss_label'] > 0 and losses['loss_text'] > 0
    tower = model.classifier.text_encoder.tower
    for key in ('loss_label', 'loss_text'):
        model.zero_grad()
        model(batch['inputs'], batch['data_samples'], mode='loss')[key].backward()
        assert tower.token_embedding.weight.grad.abs().sum() > 0, f'{key} must reach the text encoder'

    path = str(tmp_path / 'icar.pth')
    model.export_icar(path)
    from icar_mm.models import ICARSwin
    from icar_mm.text.encoder import OpenCLIPTextEncoder
    backbone = ICARSwin(checkpoint=path, **{k: v for k, v in cfg.model.backbone.items() if k != 'type'})
    backbone.init_weights()
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(backbone.state_dict()[k], v), k
    encoder = OpenCLIPTextEncoder('iCAR-Tiny', checkpoint=path)
    with torch.no_grad():
        assert torch.equal(encoder(['a red circle']), model.classifier.text_encoder(['a red circle']))


@pytest.mark.slow
def test_shortened_quickstart_writes_summary_and_pictures(tmp_path):
    work = tmp_path / 'quickstart'
    out = run_tool('tools/quickstart.py', '--work-dir', work, '--pretrain-iters', 8, '--epochs', 1,
                   '--train-images', 8, '--val-images', 4, '--skip-baseline')
    summary = json.load(open(work / 'summary.json'))
    rows = {r['detector']: r for r in summary['rows']}
    assert set(rows) == {'iCAR pre-trained (ours)', 'linear-head detector'}
    for row in rows.values():
        assert np.isfinite(row['novel_ap50'])
    assert rows['linear-head detector']['novel_ap50'] == 0
    assert (work / 'pretrain' / 'icar_synthetic.pth').is_file()
    assert len(list((work / 'detections' / 'vis').iterdir())) == 4
    assert 'summary' in out and 'novel AP50' in out
