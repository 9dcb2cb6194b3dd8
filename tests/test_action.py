"""Action recognition: video Swin inflated from 2D weights, the text-generated
cosine recognition head, robust video input, open-vocabulary accuracy."""

import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import TEST_CONFIGS, TINY_TEXT_ENCODER, run_tool, video_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ARCH = dict(embed_dims=32, depths=[1, 2, 1, 1], num_heads=[1, 2, 2, 4])


# --- inflation -----------------------------------------------------------------------
def _video_swin(**kwargs):
    from icar_mm.models import ICARSwin3D

    return ICARSwin3D(arch=ARCH, patch_size=(2, 4, 4), window_size=(2, 4, 4), drop_path_rate=0.0, **kwargs)


def _random_microsoft_2d(model_3d, window_2d=7):
    """Random 2D Swin weights in the Microsoft release layout, shaped from the 3D model
    (window 7 in 2D, so inflation also resizes the bias tables), with the extras a
    release carries (index buffers, attention masks, a classifier head)."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, v in model_3d.state_dict().items():
        if k.endswith('relative_position_index'):
            sd[k] = torch.zeros(window_2d**2, window_2d**2, dtype=torch.long)
            continue
        shape = list(v.shape)
        if k == 'patch_embed.proj.weight':
            shape = shape[:2] + shape[3:]
        elif k.endswith('relative_position_bias_table'):
            shape = [(2 * window_2d - 1) ** 2, shape[1]]
        sd['norm.' + k[6:] if k.startswith('norm3.') else k] = torch.randn(shape, generator=g)
    sd['layers.1.blocks.1.attn_mask'] = torch.zeros(4, 49, 49)
    sd['head.weight'], sd['head.bias'] = torch.randn(10, 256, generator=g), torch.zeros(10)
    return sd


@pytest.fixture(scope='module')
def swin_2d_files(tmp_path_factory):
    """The same random 2D weights as a Microsoft release, an iCAR checkpoint and an
    icar_mm detector checkpoint (mmdet layout, converted with mmdet's own converter)."""
    from mmdet.models.backbones.swin import swin_converter

    root = tmp_path_factory.mktemp('swin2d')
    ms = _random_microsoft_2d(_video_swin())
    files = dict(microsoft=str(root / 'ms.pth'), icar=str(root / 'icar.pth'), detector=str(root / 'det.pth'))
    torch.save(dict(model=ms), files['microsoft'])
    icar = {'visual_model.backbone.' + k: v for k, v in ms.items()}
    icar.update(
        {'sentence_model.embeddings.weight': torch.zeros(4, 8), 'visual_model.projector.weight': torch.zeros(8, 256)}
    )
    torch.save(icar, files['icar'])
    mm = swin_converter(
        {('norm3.' + k[5:] if k.startswith('norm.') else k): v for k, v in ms.items() if not k.startswith('head.')}
    )
    mm.update({f'backbone.norm{i}.{p}': torch.ones(32 * 2**i) for i in range(3) for p in ('weight', 'bias')})
    mm['neck.lateral_convs.0.conv.weight'] = torch.zeros(8, 32, 1, 1)
    torch.save(dict(state_dict=mm, meta=dict(epoch=1)), files['detector'])
    return files


def test_inflation_equals_mmaction_for_every_2d_layout(swin_2d_files):
    from mmaction.models.backbones import SwinTransformer3D

    ref = SwinTransformer3D(
        arch=ARCH,
        patch_size=(2, 4, 4),
        window_size=(2, 4, 4),
        drop_path_rate=0.0,
        pretrained=swin_2d_files['microsoft'],
        pretrained2d=True,
    )
    ref.init_weights()
    expected = ref.state_dict()
    for layout, path in swin_2d_files.items():
        model = _video_swin(checkpoint=path)
        model.init_weights()
        got = model.state_dict()
        assert got.keys() == expected.keys()
        different = [k for k in expected if not torch.equal(got[k], expected[k])]
        assert not different, f'{layout}: {different[:5]}'
    # inflation did happen: time-repeated patch embedding divided by its temporal size
    ms = torch.load(swin_2d_files['microsoft'])['model']
    assert torch.allclose(expected['patch_embed.proj.weight'][:, :, 0], ms['patch_embed.proj.weight'] / 2)


def test_trained_video_checkpoint_loads_as_is(swin_2d_files, tmp_path):
    model = _video_swin(checkpoint=swin_2d_files['icar'])
    model.init_weights()
    path = str(tmp_path / 'recognizer.pth')
    torch.save(
        dict(
            state_dict={
                **{'backbone.' + k: v for k, v in model.state_dict().items()},
                'cls_head.classifier.projection.weight': torch.zeros(4, 256),
            }
        ),
        path,
    )
    again = _video_swin(checkpoint=path)
    again.init_weights()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items())


def test_incompatible_2d_checkpoint_names_the_keys(swin_2d_files):
    from icar_mm.checkpoints import CheckpointError
    from icar_mm.models import ICARSwin3D

    deeper = ICARSwin3D(arch=dict(ARCH, depths=[1, 2, 2, 1]), window_size=(2, 4, 4))
    with pytest.raises(CheckpointError, match=r'missing in checkpoint.*layers\.2\.blocks\.1\.'):
        deeper.checkpoint = swin_2d_files['microsoft']
        deeper.init_weights()
    wider = ICARSwin3D(arch=dict(ARCH, embed_dims=48), window_size=(2, 4, 4))
    wider.checkpoint = swin_2d_files['icar']
    with pytest.raises(CheckpointError, match='size mismatch'):
        wider.init_weights()
    with pytest.raises(ValueError, match='checkpoint='):
        ICARSwin3D(arch=ARCH, pretrained='swin.pth')


# --- head ------------------------------------------------------------------------------
def _head(**kwargs):
    from icar_mm.models import TextCosineRecognitionHead

    torch.manual_seed(0)
    return TextCosineRecognitionHead(
        in_channels=16,
        dropout_ratio=0.0,
        average_clips='prob',
        classifier=dict(text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', templates='video_single'),
        **kwargs,
    )


def _samples(labels):
    from mmaction.structures import ActionDataSample

    return [ActionDataSample().set_gt_labels(torch.tensor([i])) for i in labels]


def test_head_averages_clips_and_crops_and_follows_the_vocabulary():
    from icar_mm.apis import set_vocabulary

    head = _head().eval()
    feats = torch.randn(2 * 6, 16, 2, 2, 2)  # 2 videos x (2 clips x 3 crops)
    scores = head(feats)
    assert scores.shape == (12, 16) and head.num_classes == 16
    samples = head.predict_by_feat(scores, _samples([0, 1]))
    expected = scores.view(2, 6, 16).softmax(-1).mean(1)
    assert torch.allclose(torch.stack([s.pred_scores.item for s in samples]), expected)
    set_vocabulary(head, ['red circle', 'juggling balls'])
    assert head.num_classes == 2 and head(feats).shape == (12, 2)


def test_train_classes_mask_novel_logits_and_clips():
    from icar_mm.datasets import BASE_CLASSES, NOVEL_CLASSES
    from icar_mm.text.vocabulary import load_vocabulary

    head = _head(train_classes='synthetic:base').train()
    names = load_vocabulary('synthetic').names
    base, novel = names.index(BASE_CLASSES[0]), names.index(NOVEL_CLASSES[0])
    feats = torch.randn(3, 16, 2, 2, 2, requires_grad=True)
    scores = head(feats)
    loss = head.loss_by_feat(scores, _samples([base, novel, base]))['loss_cls']
    keep = torch.tensor([n in BASE_CLASSES for n in names])
    expected = torch.nn.functional.cross_entropy(
        scores[[0, 2]][:, keep], torch.tensor([base, base]).apply_(lambda i: int(keep[:i].sum()))
    )
    assert torch.allclose(loss, expected, atol=1e-5)
    loss.backward()
    assert feats.grad[1].abs().sum() == 0  # the novel-class clip is out of the loss


# --- metric ----------------------------------------------------------------------------
def test_ov_acc_metric_reports_base_and_novel_among_their_own_classes():
    from icar_mm.evaluation import OVAccMetric

    metric = OVAccMetric(topk=(1, 2), splits=dict(base=['a', 'b'], novel=['c', 'd']))
    metric.dataset_meta = dict(classes=['a', 'b', 'c', 'd'])
    scores = np.array(
        [
            [0.9, 0.1, 0, 0],  # a: right
            [0.1, 0.2, 0.7, 0],  # b: wrong overall, right among base
            [0.8, 0, 0.1, 0.05],  # c: wrong overall, right among novel
            [0, 0, 0.6, 0.4],
        ]
    )  # d: wrong, second among novel
    metric.results = [(s, label) for s, label in zip(scores, [0, 1, 2, 3])]
    out = metric.compute_metrics(metric.results)
    assert out['top1'] == 0.25 and out['top2'] == 1.0  # every clip's class is in its top two
    assert out['base_top1'] == 1.0 and out['novel_top1'] == 0.5 and out['novel_top2'] == 1.0
    assert out['hm_top1'] == pytest.approx(2 / 3)
    assert set(out) >= {'mean1', 'base_mean1', 'novel_mean1'}


# --- video input -----------------------------------------------------------------------
@pytest.fixture
def videos_with_a_corrupt_one(video_data, tmp_path):
    import shutil

    root = tmp_path / 'videos'
    root.mkdir()
    for i in range(2):
        shutil.copy(osp.join(video_data, 'videos', 'train', f'{i:05d}.mp4'), root / f'{i:05d}.mp4')
    good = (root / '00000.mp4').read_bytes()
    (root / 'broken.mp4').write_bytes(good[: len(good) // 3][::-1])  # garbled, truncated
    ann = tmp_path / 'list.txt'
    ann.write_text('00000.mp4 0\nbroken.mp4 1\n00001.mp4 2\n')
    return str(root), str(ann)


def _pipeline():
    return [
        dict(type='icar_mm.VideoInit'),
        dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=1),
        dict(type='icar_mm.VideoDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs'),
    ]


def _dataset(root, ann, **kwargs):
    from mmengine.registry import init_default_scope

    from icar_mm.datasets import OVVideoDataset

    init_default_scope('mmaction')
    return OVVideoDataset(
        ann_file=ann, data_prefix=dict(video=root), pipeline=_pipeline(), vocabulary='synthetic', **kwargs
    )


def test_video_backends_decode_and_opencv_alone_suffices(video_data):
    from icar_mm.datasets import VideoDecode, VideoInit
    from icar_mm.datasets.video import available_backends

    path = osp.join(video_data, 'videos', 'train', '00000.mp4')
    for backends in [available_backends(), ['opencv']]:
        results = VideoInit(backends=backends)(dict(filename=path))
        assert results['video_backend'] == backends[0] and results['total_frames'] == 16
        results['frame_inds'] = np.array([0, 5, 15])
        imgs = VideoDecode()(results)['imgs']
        assert len(imgs) == 3 and imgs[0].shape == (64, 64, 3)


def test_corrupt_video_error_names_the_file(videos_with_a_corrupt_one):
    from icar_mm.datasets import VideoReadError

    root, ann = videos_with_a_corrupt_one
    dataset = _dataset(root, ann)
    assert dataset[0]['inputs'].shape == (1, 3, 4, 32, 32)
    with pytest.raises(VideoReadError, match=re.escape(osp.join(root, 'broken.mp4'))):
        dataset[1]
    with pytest.raises(VideoReadError, match='missing.mp4'):
        _dataset(root, ann, test_mode=True).pipeline(
            dict(filename=osp.join(root, 'missing.mp4'), label=0, start_index=0, modality='RGB')
        )


def test_skip_corrupt_counts_skipped_videos(videos_with_a_corrupt_one):
    root, ann = videos_with_a_corrupt_one
    train = _dataset(root, ann, skip_corrupt=True)
    sample = train[1]  # the corrupt one: another clip is drawn instead
    assert sample['inputs'].shape == (1, 3, 4, 32, 32) and train.num_skipped >= 1
    test = _dataset(root, ann, skip_corrupt=True, test_mode=True)  # no refetch in test mode: left out up front
    assert len(test) == 2 and test.num_skipped == 1
    assert [test[i]['data_samples'].gt_labels.item.item() for i in range(2)] == [0, 2]


def test_keep_classes_filters_clips_labels_keep_indexing_the_vocabulary(video_data):
    from icar_mm.datasets import BASE_CLASSES
    from icar_mm.text.vocabulary import load_vocabulary

    ann = osp.join(video_data, 'train_list.txt')
    full = _dataset(osp.join(video_data, 'videos', 'train'), ann)
    base = _dataset(osp.join(video_data, 'videos', 'train'), ann, keep_classes='synthetic:base')
    names = load_vocabulary('synthetic').names
    labels = [d['label'] for d in full.data_list]
    assert [d['label'] for d in base.data_list] == [i for i in labels if names[i] in BASE_CLASSES]
    assert base.metainfo['classes'] == names


# --- end to end ------------------------------------------------------------------------
@pytest.fixture(scope='module')
def ov_video_data(tmp_path_factory):
    """Training clips of all classes (the config keeps the base ones); validation
    clips of base and novel classes."""
    from icar_mm.datasets.synthetic import NOVEL_CLASSES, write_video_set
    from icar_mm.text.vocabulary import load_vocabulary

    root = str(tmp_path_factory.mktemp('synthetic_ov_video'))
    write_video_set(root, 'train', num_videos=6, seed=3)
    names = load_vocabulary('synthetic').names
    for seed in range(4, 40):  # the first seed whose clips hold both base and novel classes
        ann = write_video_set(
            root, 'val', num_videos=4, seed=seed, draw_from=NOVEL_CLASSES[:2] + ('red circle', 'blue square')
        )
        drawn = {names[int(line.split()[1])] for line in open(ann)}
        if drawn & set(NOVEL_CLASSES) and drawn - set(NOVEL_CLASSES):
            return root
    raise AssertionError('no seed gives both base and novel clips')


def _options(root):
    return ['--cfg-options', *video_options(root)]


def _metric(out, key):
    found = re.findall(rf'{re.escape(key)}: ([0-9.]+)', out)
    assert found, f'{key} not in the output:\n{out[-3000:]}'
    return float(found[-1])


@pytest.mark.slow
def test_train_test_and_recognize_closed_vocabulary(video_data, trained_recognizer, tmp_path):
    config, checkpoint = trained_recognizer.config, trained_recognizer.checkpoint
    out = run_tool(
        'tools/test.py',
        config,
        checkpoint,
        '--work-dir',
        tmp_path / 'test',
        '--cfg-options',
        *trained_recognizer.options,
    )
    for key in ('acc/top1', 'acc/top5', 'acc/mean1'):
        assert 0 <= _metric(out, key) <= 1
    # any vocabulary at inference, through mmaction's inference API
    video = osp.join(video_data, 'videos', 'val', '00000.mp4')
    out = run_tool(
        'tools/recognize.py',
        config,
        checkpoint,
        video,
        '--classes',
        'red circle, blue square,juggling balls',
        '--topk',
        '3',
        '--out-dir',
        tmp_path / 'recognize',
    )
    top = re.findall(r'^ +([0-9.]+)  (.+)$', out, re.M)
    assert sorted(name for _, name in top) == ['blue square', 'juggling balls', 'red circle']
    assert abs(sum(float(score) for score, _ in top) - 1) < 1e-3  # 'prob' averaging over 6 views


@pytest.mark.slow
def test_train_base_test_novel(ov_video_data, tmp_path):
    config = osp.join(TEST_CONFIGS, 'tiny_ov_video_swin.py')
    work = str(tmp_path / 'work')
    out = run_tool('tools/train.py', config, '--work-dir', work, *_options(ov_video_data))
    assert _metric(out, 'loss_cls') > 0
    out = run_tool('tools/test.py', config, osp.join(work, 'epoch_1.pth'), '--work-dir', work, *_options(ov_video_data))
    for key in ('acc/top1', 'acc/base_top1', 'acc/novel_top1', 'acc/novel_top5', 'acc/novel_mean1', 'acc/hm_top1'):
        assert 0 <= _metric(out, key) <= 1
    # 2 novel classes among 4 novel: top-5 covers them all
    assert _metric(out, 'acc/novel_top5') == 1.0


def test_recognition_configs_build_what_the_recipe_says(video_data):
    """Every shipped recognition config reads (mmaction:: bases) and names our
    modules; the Kinetics-400 recipe trains the backbone at a tenth of the
    head's learning rate and tests 4 clips x 3 crops; base-to-novel supervises
    exactly the classes whose clips it keeps."""
    import glob

    from mmaction.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import Compose
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from icar_mm.datasets import OVVideoDataset
    from icar_mm.models import ICARSwin3D, TextCosineRecognitionHead
    from icar_mm.text.vocabulary import load_vocabulary

    configs = sorted(glob.glob(osp.join(REPO, 'configs', 'recognition', '*.py')))
    assert len(configs) == 5
    for path in configs:
        cfg = Config.fromfile(path)
        assert MODELS.get(cfg.model.backbone.type) is ICARSwin3D, path
        assert MODELS.get(cfg.model.cls_head.type) is TextCosineRecognitionHead, path
        assert DATASETS.get(cfg.test_dataloader.dataset.type) is OVVideoDataset, path

    k400 = Config.fromfile([p for p in configs if p.endswith('30e_kinetics400-rgb.py')][0])
    parts = torch.nn.ModuleDict(dict(backbone=torch.nn.Linear(2, 2), cls_head=torch.nn.Linear(2, 2)))
    clip = osp.join(video_data, 'videos', 'val', '00000.mp4')
    with DefaultScope.overwrite_default_scope('mmaction'):
        optimizer = build_optim_wrapper(parts, dict(k400.optim_wrapper, type='OptimWrapper')).optimizer  # AMP: GPUs
        views = Compose(k400.test_pipeline)(dict(filename=clip, label=0, start_index=0, modality='RGB'))['inputs']
    lr = {
        name.split('.')[0]: group['lr']
        for group in optimizer.param_groups
        for name, p in parts.named_parameters()
        if any(p is q for q in group['params'])
    }
    assert lr['backbone'] == pytest.approx(0.1 * lr['cls_head'])
    assert views.shape[:3] == (4 * 3, 3, 32)

    b2n = Config.fromfile([p for p in configs if 'base2novel' in p][0])
    head = MODELS.build(
        dict(
            b2n.model.cls_head,
            classifier=dict(b2n.model.cls_head.classifier, text_encoder=TINY_TEXT_ENCODER, projector_checkpoint=None),
        )
    )
    head.classifier.set_vocabulary(b2n.test_dataloader.dataset.vocabulary)
    outside = head.train_classes.outside(head.classifier, 'cpu')
    supervised = {n for n, out in zip(head.classifier.class_names, outside.tolist()) if not out}
    assert 0 < len(supervised) < len(head.classifier.class_names)
    assert supervised == set(load_vocabulary(b2n.train_dataloader.dataset.keep_classes).names)
