"""The quickstart: the embedded world's generators, the iCAR pre-training
objective and its iCAR-layout export, and a shortened end-to-end run."""

import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import REPO, THREADS, initialised, run_tool, tool_helpers

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
            # a model this short may call a whole picture background, not every one
            assert any(picture[found] for picture in drawn), f'no {task} picture shows a prediction'
            for picture in drawn:
                assert set(picture['classes']) >= set(ALL_ACTIONS if task == 'action' else ALL_CLASSES)
                assert osp.getsize(picture['picture']) > 0
    assert osp.isfile(summary['pictures']['overview'])
    # one line per stage on the terminal, the mm logs in files
    assert 'unseen mIoU' in out and 'novel top-1' in out and 'novel AP50' in out
    assert len(out.splitlines()) < 40 and 'mmengine - INFO' not in out
    assert (work / 'logs' / 'pretrain.log').read_text().count('mmengine') > 10


def test_linear_probe_reads_only_what_the_features_hold():
    """Features built to hold the colour of a class but not its shape: the probe
    finds colour and not shape; with shape added it finds both."""
    from icar_mm.datasets.synthetic import ALL_CLASSES
    from icar_mm.evaluation import LinearProbeMetric

    rng = np.random.default_rng(0)
    labels = rng.integers(len(ALL_CLASSES), size=800)
    colours = sorted({n.split()[0] for n in ALL_CLASSES})
    shapes = sorted({n.split()[1] for n in ALL_CLASSES})
    colour = np.eye(4)[[colours.index(ALL_CLASSES[i].split()[0]) for i in labels]]
    shape = np.eye(4)[[shapes.index(ALL_CLASSES[i].split()[1]) for i in labels]]

    def probe(parts):
        features = np.concatenate(parts + [rng.normal(0, 0.3, (len(labels), 8))], 1)
        metric = LinearProbeMetric()
        metric.dataset_meta = dict(classes=ALL_CLASSES)
        metric.process(None, [dict(features=torch.tensor(f), label=int(y)) for f, y in zip(features, labels)])
        return metric.evaluate(len(labels))

    without_shape = probe([colour])
    assert without_shape['probe/colour'] > 95 and without_shape['probe/shape'] < 40
    assert without_shape['probe/shape_chance'] == 25.0
    both = probe([colour, shape])
    assert both['probe/colour'] > 95 and both['probe/shape'] > 95
    metric = LinearProbeMetric(attributes=('colour',))
    metric.dataset_meta = dict(classes=ALL_CLASSES)
    with pytest.raises(ValueError, match='one attribute per word'):
        metric.compute_metrics([(torch.zeros(2), 0)] * 4)


def test_objects_sit_one_per_grid_cell():
    """The world's placement: each object within size // 32 px of the centre of
    its own cell of a 2x2 grid; 'centre' and 'anywhere' for comparison; a
    wrong placement is named."""
    from icar_mm.datasets import SyntheticPretrainDataset
    from icar_mm.datasets.synthetic import ALL_CLASSES, render_scene

    def centres(placement, size=64):
        rng = np.random.default_rng(0)
        for _ in range(40):
            for o in render_scene(rng, size, ALL_CLASSES, placement=placement)[1]:
                x, y, w, h = o['bbox']
                yield np.array([x + (w - 1) / 2, y + (h - 1) / 2])

    for size in (64, 128):
        for c in centres('grid', size):
            offset = np.abs(c - (size // 4 + size // 2 * (c >= size // 2)))
            assert offset.max() <= size // 32 + 1, (size, c)
    assert all(np.abs(c - 32).max() <= 1 for c in centres('centre'))
    assert np.percentile([np.abs((c % 32) - 16).max() for c in centres('anywhere')], 90) > 6
    with pytest.raises(ValueError, match="placement must be one of .*got 'middle'"):
        SyntheticPretrainDataset(placement='middle')


@pytest.mark.parametrize(
    'config, loss_label, loss_text, text_from',
    [
        ('ic-pretrain', True, False, ()),
        ('clip-pretrain', False, True, ('loss_text',)),
        ('shallow-fusion-pretrain', True, True, ('loss_text',)),
        ('icar-pretrain', True, True, ('loss_label', 'loss_text')),
        ('icar-pretrain-no-descriptions', True, True, ('loss_label', 'loss_text')),
    ],
)
def test_pretraining_variants_train_what_they_claim(config, loss_label, loss_text, text_from):
    """The ablation's variants: which losses run, and which of them reach the text encoder."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from icar_mm.datasets import SyntheticPretrainDataset

    cfg = Config.fromfile(osp.join(REPO, 'configs', 'quickstart', f'{config}_swin-tiny_synthetic.py'))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    mix = cfg.train_dataloader.dataset  # the variant's data: labelled, captioned or both
    data = SyntheticPretrainDataset(num_labelled=4 * bool(mix.num_labelled), num_captioned=4 * bool(mix.num_captioned))
    batch = model.data_preprocessor(pseudo_collate([data[i] for i in range(len(data))]), True)
    losses = model(batch['inputs'], batch['data_samples'], mode='loss')
    assert bool(losses['loss_label'] > 0) == loss_label and bool(losses['loss_text'] > 0) == loss_text
    tower = model.classifier.text_encoder.tower
    for key in ('loss_label', 'loss_text'):
        model.zero_grad()
        loss = model(batch['inputs'], batch['data_samples'], mode='loss')[key]
        if loss.requires_grad:
            loss.backward()
        grad = tower.token_embedding.weight.grad
        assert (grad is not None and bool(grad.abs().sum() > 0)) == (key in text_from), key
    assert model.classifier.enriched == (config.startswith('icar-pretrain') and 'no-descriptions' not in config)
    predicted = model(batch['inputs'], batch['data_samples'], mode='predict')
    assert predicted[0]['features'].shape == (8 * 32,) and predicted[0]['scores'].shape == (12,)
    assert [p['label'] for p in predicted] == list(batch['data_samples']['label'])


def test_pictures_are_checked_against_the_ground_truth_of_their_examples(tmp_path):
    """The quickstart's verdict on a drawn example, against the annotations the
    world writer saved: right only with one box of the right class per object
    (detection), the label map's classes (segmentation), the true top-1 (action)."""
    import cv2

    from icar_mm.datasets.synthetic import ALL_CLASSES, write_detection_set, write_segmentation_set

    tool_helpers()
    import quickstart

    write_detection_set(str(tmp_path / 'detection'), 'val', num_images=6, seed=1)
    ann = json.load(open(tmp_path / 'detection' / 'annotations' / 'val.json'))
    image = ann['images'][0]
    objects = [a for a in ann['annotations'] if a['image_id'] == image['id']]
    names = {c['id']: c['name'] for c in ann['categories']}
    truth = quickstart.ground_truth(quickstart.TASKS['detection'], str(tmp_path / 'detection'))(
        str(tmp_path / 'detection' / 'images' / 'val' / image['file_name'])
    )
    assert sorted(t['name'] for t in truth) == sorted(names[a['category_id']] for a in objects)

    def box(a, shift=0.0):
        x, y, w, h = a['bbox']
        return [x + shift, y, x + w + shift, y + h]

    right = [dict(label=names[a['category_id']], score=0.9, bbox=box(a, 1.0)) for a in objects]
    assert quickstart.named_right('detection', dict(detections=right), truth)
    colour, shape = right[0]['label'].split()
    wrong_shape = next(n for n in ALL_CLASSES if n.startswith(colour) and not n.endswith(shape))
    for drawn in (
        [dict(right[0], label=wrong_shape)] + right[1:],  # the right colour, the wrong shape
        right + [dict(right[0], score=0.5)],  # one object boxed twice
        right[1:],  # one object missed
        [dict(right[0], bbox=box(objects[0], objects[0]['bbox'][2]))] + right[1:],  # beside its object
    ):
        assert not quickstart.named_right('detection', dict(detections=drawn), truth)

    classes = ('background',) + ALL_CLASSES
    write_segmentation_set(str(tmp_path / 'segmentation'), 'val', num_images=4, seed=3, classes=classes)
    images = tmp_path / 'segmentation' / 'img_dir' / 'val'
    path = str(images / sorted(os.listdir(images))[0])
    label_map = cv2.imread(path.replace('img_dir', 'ann_dir')[:-4] + '.png', cv2.IMREAD_UNCHANGED)
    shown = sorted(classes[i] for i in np.unique(label_map) if 0 < i < len(classes))
    truth = quickstart.ground_truth(quickstart.TASKS['segmentation'], str(tmp_path / 'segmentation'))(path)
    assert truth == shown and shown
    found = [dict(label=n, area=0.1, score=0.9) for n in shown]
    assert quickstart.named_right('segmentation', dict(segments=found), truth)
    extra = next(n for n in ALL_CLASSES if n not in shown)
    assert not quickstart.named_right('segmentation', dict(segments=found + [dict(label=extra)]), truth)
    assert quickstart.named_right('action', dict(top=[dict(label='circle turning red')]), 'circle turning red')
    assert not quickstart.named_right('action', dict(top=[dict(label='square turning red')]), 'circle turning red')


@pytest.mark.slow
def test_shortened_ablation_prints_a_row_per_variant(tmp_path):
    """--ablation end to end on a shortened schedule (two variants, one task): each
    variant pre-trained, probed and fine-tuned, one table, ablation.json."""
    out = run_tool(
        'tools/quickstart.py',
        '--ablation',
        '--variants',
        'ic-pretrain',
        'icar-pretrain',
        '--tasks',
        'action',
        '--pretrain-iters',
        4,
        '--schedule',
        0.03,
        '--work-dir',
        tmp_path,
        '--threads',
        THREADS,
    )
    rows = json.load(open(tmp_path / 'ablation.json'))['rows']
    assert [r['pretraining'] for r in rows] == ['image classification only', 'iCAR deep fusion', 'no pre-training']
    for row in rows[:2]:
        assert set(row['probe']) >= {'colour', 'shape', 'shape_chance'}
        assert len(row['tasks']['action']['novel_runs']) == 3  # fine-tuning seeds
    assert rows[2]['probe'] is None
    table = out[out.index('ablation (') :]
    assert all(r['pretraining'] in table for r in rows) and 'action novel / base' in table
    # downstream prompts follow the pre-training: names only where the text encoder never saw descriptions
    config = 'ov-video-swin_icar-swin-tiny_synthetic-actions.py'
    dumped = {tag: (tmp_path / tag / 'action_seed0' / config).read_text() for tag in ('ic-pretrain', 'icar-pretrain')}
    assert 'enriched=False' in dumped['ic-pretrain'] and 'enriched=True' in dumped['icar-pretrain']
