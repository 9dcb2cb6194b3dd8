"""The quickstart: the embedded world's generators, the iCAR pre-training
objective and its iCAR-layout export, and a shortened end-to-end run."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import REPO, initialised

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
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

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
    encoder = initialised(OpenCLIPTextEncoder('tiny-random-clip', checkpoint=path))
    with torch.no_grad():
        assert torch.equal(encoder(['a red circle']), model.classifier.text_encoder(['a red circle']))


def test_action_world_changes_colour_midway_and_holds_out_novel_actions(tmp_path):
    """Clips of a base-to-novel split: training clips show base actions only,
    labels index all actions, and each clip ends in the colour its name says."""
    import cv2

    from icar_mm.datasets.synthetic import (
        ALL_ACTIONS,
        BASE_ACTIONS,
        COLOURS,
        NOVEL_ACTIONS,
        NOVEL_CLASSES,
        render_clip,
        write_video_set,
    )
    from icar_mm.text import load_vocabulary

    assert {f'{n.split()[1]} turning {n.split()[0]}' for n in NOVEL_CLASSES} == set(NOVEL_ACTIONS)
    base_words = {w for n in BASE_ACTIONS for w in n.split()}
    assert all(set(n.split()) <= base_words for n in NOVEL_ACTIONS), 'novel names are made of base words'
    shipped = load_vocabulary('synthetic_actions')
    assert shipped.names == ALL_ACTIONS and shipped.split('novel').names == NOVEL_ACTIONS
    ann = write_video_set(
        str(tmp_path), 'train', num_videos=12, seed=0, classes=ALL_ACTIONS, draw_from=BASE_ACTIONS, num_frames=8
    )
    labels = [int(line.split()[1]) for line in open(ann)]
    assert {ALL_ACTIONS[i] for i in labels} <= set(BASE_ACTIONS)
    assert cv2.VideoCapture(str(tmp_path / 'videos' / 'train' / '00000.mp4')).get(cv2.CAP_PROP_FRAME_COUNT) == 8

    def colours(frame):
        return {c for c, (rgb, _) in COLOURS.items() if (np.abs(frame.astype(int) - rgb).sum(-1) == 0).sum() > 20}

    frames = render_clip(np.random.default_rng(0), 'circle turning red', size=64, num_frames=8)
    first, last = colours(frames[0]), colours(frames[-1])
    assert last == {'red'} and len(first) == 1 and first != {'red'}


def test_segmentation_world_ignores_unlabelled_classes(tmp_path):
    import cv2

    from icar_mm.datasets.synthetic import ALL_CLASSES, BASE_CLASSES, NOVEL_CLASSES, write_segmentation_set

    classes = ('background',) + ALL_CLASSES
    for split, labelled in (('train', BASE_CLASSES), ('val', None)):
        write_segmentation_set(
            str(tmp_path),
            split,
            num_images=24,
            seed=0,
            classes=classes,
            background_class='background',
            label_classes=labelled,
        )
    ids = {
        split: set(
            np.unique(
                np.concatenate(
                    [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).ravel() for p in (tmp_path / 'ann_dir' / split).iterdir()]
                )
            )
        )
        for split in ('train', 'val')
    }
    novel = {classes.index(n) for n in NOVEL_CLASSES}
    assert ids['val'] & novel and not ids['train'] & novel, 'novel pixels are labelled in val only'
    assert 255 in ids['train'] and 0 in ids['train'], 'novel pixels ignored, background labelled'


@pytest.mark.slow
def test_shortened_quickstart_runs_three_tasks_and_draws_predictions(quickstart_run):
    """The main job end to end on a shortened schedule: one pre-training, the
    three tasks with and without it, the table, and pictures with predictions."""
    work, out = quickstart_run / 'quickstart', (quickstart_run / 'terminal.txt').read_text()
    summary = json.load(open(work / 'summary.json'))
    rows = {(r['task'], r['pretraining']): r for r in summary['rows']}
    assert set(rows) == {
        (t, p) for t in ('detection', 'segmentation', 'action') for p in ('iCAR pre-trained', 'no pre-training')
    }
    for row in rows.values():
        assert np.isfinite(row['novel']) and np.isfinite(row['base']) and osp.isfile(row['checkpoint'])
    assert (quickstart_run / 'icar_synthetic.moved.pth').is_file()  # written by the pre-training
    from icar_mm.datasets.synthetic import ALL_ACTIONS, ALL_CLASSES

    for task, found in (('detection', 'detections'), ('segmentation', 'segments'), ('action', 'top')):
        for drawn in summary['pictures'][task].values():
            assert 1 <= len(drawn) <= 2  # the held-out examples that show novel classes, at most 2
            for picture in drawn:
                assert picture[found], f'{picture["picture"]} shows no prediction'
                assert set(picture['classes']) >= set(ALL_ACTIONS if task == 'action' else ALL_CLASSES)
                assert osp.getsize(picture['picture']) > 0
    assert osp.isfile(summary['pictures']['overview'])
    # one line per stage on the terminal, the mm logs in files
    assert 'unseen mIoU' in out and 'novel top-1' in out and 'novel AP50' in out
    assert len(out.splitlines()) < 40 and 'mmengine - INFO' not in out
    assert (work / 'logs' / 'pretrain.log').read_text().count('mmengine') > 10
