"""Reliability: multi-process training, exact resume, and bad input that stops
with a clear message and damages nothing already written."""

import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from conftest import REPO, TEST_CONFIGS, TINY_TEXT_ENCODER, detection_options, run_tool, tool_env, tool_helpers

OV_CONFIG = osp.join(TEST_CONFIGS, 'tiny_ov_mask_rcnn.py')
CLASSIFIER = 'model.roi_head.bbox_head.classifier'


def losses(work_dir):
    """The logged total loss of every training iteration."""
    (path,) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    return [json.loads(line)['loss'] for line in open(path) if '"loss"' in line]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


# --- several processes -----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize('text_encoder', ['frozen', 'trainable'])
def test_two_processes_train_like_one_with_the_same_total_batch(det_data, tmp_path, text_encoder):
    """tools/dist_train.sh, 2 CPU processes (gloo) x 1 image against 1 process x
    2 images: every step, both ranks score with identical class weights (and
    hold one identical text encoder when it trains); the logged (rank-averaged)
    loss curve matches within 5%: the ranks draw their RoI samples from their
    own random streams, the single process from one."""
    options = detection_options(det_data) + [
        'train_dataloader.dataset.pipeline.3.prob=0.0',  # same images, unflipped, in both runs
        f'{CLASSIFIER}.templates=vild14',  # random template per class and step
        f'{CLASSIFIER}.text_encoder.frozen={text_encoder == "frozen"}',
        'custom_hooks.3.interval=1',
        'train_cfg.val_interval=2',
    ]
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    run_tool('tools/train.py', OV_CONFIG, '--work-dir', one, '--cfg-options', 'train_dataloader.batch_size=2', *options)
    env = dict(tool_env(PORT=str(free_port()), PYTHON=sys.executable), OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            OV_CONFIG,
            '2',
            '--work-dir',
            two,
            '--cfg-options',
            'train_dataloader.batch_size=1',
            *options,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]

    checks = [line for line in log.splitlines() if 'identical on 2 processes' in line]
    assert len(checks) == 4, log[-3000:]  # one per iteration
    if text_encoder == 'trainable':
        assert all('text encoder of roi_head.bbox_head.classifier' in line for line in checks)
    curve_one, curve_two = losses(one), losses(two)
    assert len(curve_one) == len(curve_two) == 4
    for a, b in zip(curve_one, curve_two):
        assert abs(a - b) <= 0.05 * a, (curve_one, curve_two)


def _classifier_and_batch(rank: int):
    """The same trainable-tower classifier on every rank (same seed), and rank
    ``rank``'s features and labels."""
    from icar_mm.classifier import TextCosineClassifier

    torch.manual_seed(0)
    encoder = dict(TINY_TEXT_ENCODER, frozen=False)
    classifier = TextCosineClassifier(text_encoder=encoder, vocabulary='synthetic', templates='vild14', in_channels=24)
    data = torch.Generator().manual_seed(100 + rank)
    features = torch.randn(6, 24, generator=data)
    labels = torch.randint(len(classifier.vocabulary), (6,), generator=data)
    return classifier.train(), features, labels


def _text_gradients(classifier):
    return {n: p.grad.clone() for n, p in classifier.text_encoder.named_parameters() if p.requires_grad}


def _shared_encoding_rank(rank: int, port: int, out: str):
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    classifier, features, labels = _classifier_and_batch(rank)
    encoded = []
    encode = classifier.encode_texts
    classifier.encode_texts = lambda texts, grad=False: encoded.append(len(texts)) or encode(texts, grad)
    model = DistributedDataParallel(classifier)
    for _ in range(2):  # two steps: two template draws
        model.zero_grad()
        F.cross_entropy(model(features), labels).backward()
    torch.save(
        dict(weights=classifier.last_class_weights, grads=_text_gradients(classifier), encoded=encoded),
        osp.join(out, f'rank{rank}.pth'),
    )
    dist.destroy_process_group()


def test_two_processes_share_the_text_encoding_and_get_the_gradients_of_one(tmp_path):
    """A trainable text tower on 2 processes (gloo, DDP): each rank encodes half
    the classes' prompts, yet both score with the class weights one process
    computes, and the text tower's averaged gradients equal one process's
    gradient of the averaged loss."""
    import torch.multiprocessing as mp
    import torch.nn.functional as F

    mp.spawn(_shared_encoding_rank, args=(free_port(), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=False) for r in range(2)]

    classifier, features0, labels0 = _classifier_and_batch(0)
    _, features1, labels1 = _classifier_and_batch(1)
    num_classes = len(classifier.vocabulary)
    assert ranks[0]['encoded'] == [num_classes // 2] * 2 and ranks[1]['encoded'] == [num_classes - num_classes // 2] * 2
    for _ in range(2):
        classifier.zero_grad()
        logits = classifier(torch.cat([features0, features1]))
        loss = (F.cross_entropy(logits[:6], labels0) + F.cross_entropy(logits[6:], labels1)) / 2
        loss.backward()
    one = _text_gradients(classifier)
    assert one and all(g.abs().sum() > 0 for g in one.values())
    for rank in ranks:
        torch.testing.assert_close(rank['weights'], classifier.last_class_weights, rtol=0, atol=1e-6)
        assert rank['grads'].keys() == one.keys()
        for name, grad in one.items():
            # float32 sums in another order: the padding token's row gathers every prompt's padding (1e-6 off)
            torch.testing.assert_close(
                rank['grads'][name], grad, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f'{name}: {m}'
            )


def test_template_choices_do_not_depend_on_other_random_draws():
    """Ranks consume the global random stream differently (their own images,
    their own RoI samples); template choices come from the classifier's own
    stream, so they agree."""
    from icar_mm.classifier import TextCosineClassifier

    torch.manual_seed(0)
    a = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', templates='vild14').train()
    b = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', templates='vild14').train()
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        torch.rand(17)  # only this "rank" draws something else in between
        torch.testing.assert_close(a.class_embeddings(), b.class_embeddings(), rtol=0, atol=0)


# --- exact resume ----------------------------------------------------------------
@pytest.mark.slow
def test_resumed_run_ends_with_the_same_weights(det_data, tmp_path):
    """Deterministic mode, random flips, random templates, a learnable scale and
    background: a run restarted from its epoch-1 checkpoint in a new process
    ends exactly where the uninterrupted run ends (weights, optimizer state,
    the classifier's template stream)."""
    options = [
        '--cfg-options',
        *detection_options(det_data),
        'train_cfg.max_epochs=2',
        f'{CLASSIFIER}.templates=vild14',
        f'{CLASSIFIER}.learnable_scale=True',
        'randomness.deterministic=True',
    ]
    full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    run_tool('tools/train.py', OV_CONFIG, '--work-dir', full, *options)
    run_tool('tools/train.py', OV_CONFIG, '--work-dir', resumed, '--resume', osp.join(full, 'epoch_1.pth'), *options)
    a = torch.load(osp.join(full, 'epoch_2.pth'), weights_only=False)
    b = torch.load(osp.join(resumed, 'epoch_2.pth'), weights_only=False)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    assert 'roi_head.bbox_head.classifier.logit_scale' in a['state_dict']
    different = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k], b['state_dict'][k])]
    assert not different, different
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a['meta']['iter'] == b['meta']['iter'] == 8


# --- bad input -------------------------------------------------------------------
@pytest.fixture(scope='module')
def detector():
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    return MODELS.build(Config.fromfile(OV_CONFIG).model)


@pytest.mark.slow
def test_nan_loss_stops_naming_the_iteration_and_the_last_good_checkpoint(det_data, tmp_path):
    from icar_mm.apis import build_runner, load_config
    from icar_mm.engine import NonFiniteLossError

    config = tmp_path / 'exploding.py'  # the learning rate explodes after epoch 1
    config.write_text(
        f'_base_ = {OV_CONFIG!r}\ntrain_cfg = dict(max_epochs=2, val_interval=2)\n'
        "param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=1e30)]\n"
    )
    cfg = load_config(str(config), str(tmp_path / 'work'))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in detection_options(det_data)))
    with pytest.raises(NonFiniteLossError) as error:
        build_runner(cfg).train()
    good = osp.join(tmp_path, 'work', 'epoch_1.pth')
    message = str(error.value)
    assert 'Training stopped at iteration' in message and 'expected finite losses, found loss' in message
    assert f'last good checkpoint is {good}' in message and 'clip_grad' in message
    assert not osp.exists(osp.join(tmp_path, 'work', 'epoch_2.pth'))
    weights = torch.load(good, weights_only=False)['state_dict']
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_checkpoints_of_another_task_or_incomplete_are_refused(detector, tmp_path):
    from icar_mm.checkpoints import CheckpointError, check_model_checkpoint

    own = detector.state_dict()
    torch.save({'state_dict': own}, tmp_path / 'ok.pth')
    check_model_checkpoint(detector, str(tmp_path / 'ok.pth'))

    segmentor = {k: v for k, v in own.items() if k.startswith('backbone.')}
    segmentor['decode_head.conv_seg.weight'] = torch.zeros(3, 8, 1, 1)
    torch.save({'state_dict': segmentor}, tmp_path / 'segmentor.pth')
    with pytest.raises(CheckpointError, match='holds a segmentor.*decode_head.*config builds a detector'):
        check_model_checkpoint(detector, str(tmp_path / 'segmentor.pth'))

    partial = {k: v for k, v in own.items() if not k.startswith('roi_head.mask_head.')}
    torch.save({'state_dict': partial}, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match=r'missing in checkpoint \(\d+\): roi_head.mask_head'):
        check_model_checkpoint(detector, str(tmp_path / 'partial.pth'))

    data = (tmp_path / 'ok.pth').read_bytes()
    (tmp_path / 'truncated.pth').write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        check_model_checkpoint(detector, str(tmp_path / 'truncated.pth'))


class _RunsCode:
    """Pickles to a call that writes a file when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (shutil.copy, (__file__, self.path))


def test_code_executing_checkpoints_are_refused_everywhere(detector, tmp_path):
    import pickle

    from mmengine.runner import load_checkpoint

    from icar_mm.checkpoints import CheckpointError, read_checkpoint

    evil, ran = tmp_path / 'evil.pth', tmp_path / 'code_ran'
    with open(evil, 'wb') as f:
        pickle.dump({'state_dict': _RunsCode(str(ran))}, f)
    with pytest.raises(CheckpointError, match='could execute code.*only tensors and plain data'):
        read_checkpoint(str(evil))
    with pytest.raises(CheckpointError, match='could execute code'):  # mmengine's loader: --resume, inferencers
        load_checkpoint(detector, str(evil))
    torch.save({'state_dict': {'x': _RunsCode(str(ran))}}, tmp_path / 'evil_torch.pth')
    with pytest.raises(CheckpointError, match='could execute code'):
        read_checkpoint(str(tmp_path / 'evil_torch.pth'))
    assert not ran.exists()


@pytest.mark.slow
def test_test_tool_refuses_a_wrong_checkpoint_and_keeps_earlier_outputs(detector, det_data, tmp_path):
    segmentor = {'decode_head.conv_seg.weight': torch.zeros(3, 8, 1, 1), 'backbone.x': torch.zeros(1)}
    torch.save({'state_dict': segmentor}, tmp_path / 'segmentor.pth')
    out = tmp_path / 'results.pkl'
    out.write_bytes(b'earlier results')
    with pytest.raises(AssertionError, match='holds a segmentor') as error:
        run_tool(
            'tools/test.py',
            OV_CONFIG,
            tmp_path / 'segmentor.pth',
            '--out',
            out,
            '--work-dir',
            tmp_path / 'work',
            '--cfg-options',
            *detection_options(det_data),
        )
    assert 'CheckpointError' in str(error.value)
    assert out.read_bytes() == b'earlier results'


def test_vocabulary_that_disagrees_with_the_dataset_or_the_head(detector):
    from types import SimpleNamespace

    from icar_mm.engine import VocabularyHook
    from icar_mm.models import TextCosineBBoxHead

    classifier = detector.roi_head.bbox_head.classifier
    classifier.set_vocabulary('voc')  # named, as a config naming vocabulary='voc' does
    assert not classifier.follows_dataset
    dataset = SimpleNamespace(metainfo=dict(classes=('cat', 'dog')))
    try:
        with pytest.raises(
            ValueError,
            match='has 2 classes but a classifier of the model scores 21.*remove vocabulary=... to follow the dataset',
        ):
            VocabularyHook.apply(detector, dataset)
    finally:
        classifier.set_vocabulary('voc', follow_dataset=True)
    VocabularyHook.apply(detector, dataset)
    assert classifier.class_names == ('cat', 'dog') and classifier.follows_dataset

    head = TextCosineBBoxHead(
        classifier=dict(text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', templates='single'),
        in_channels=8,
        fc_out_channels=16,
        roi_feat_size=2,
        reg_class_agnostic=False,
        num_classes=16,
    )
    assert head.num_classes == 16
    head.classifier.set_vocabulary('voc')
    with pytest.raises(ValueError, match='built for 16 classes but the vocabulary has 21.*reg_class_agnostic=True'):
        head.num_classes


def test_class_weights_of_the_wrong_dimension(tmp_path):
    from icar_mm.classifier import TextCosineClassifier

    source = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', templates='single')
    source.export_class_weights(str(tmp_path / 'weights.pth'))
    wide = TextCosineClassifier(
        text_encoder=dict(TINY_TEXT_ENCODER, model_name='RN50'), vocabulary='synthetic', templates='single'
    )
    with pytest.raises(ValueError, match=f'holds {source.embed_dim}-d class weights.*works in {wide.embed_dim}-d'):
        wide.set_class_weights(str(tmp_path / 'weights.pth'))


def test_features_of_the_wrong_width_or_not_finite_are_named():
    from icar_mm.classifier import TextCosineClassifier

    clf = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', in_channels=32).eval()
    assert clf(torch.randn(2, 5, 32)).shape == (2, 5, 16)
    with pytest.raises(
        ValueError,
        match=r'takes 32-d visual features \(in_channels\), but got features of shape '
        r'\(2, 5, 48\): set in_channels',
    ):
        clf(torch.randn(2, 5, 48))
    features = torch.randn(2, 5, 32)
    features[1, 3, 7] = float('nan')
    features[0, 0] = float('inf')
    with pytest.raises(FloatingPointError, match='2 of 10 visual feature vectors hold NaN or inf'):
        clf(features)


def test_a_context_longer_than_the_towers_positions_is_refused(tmp_path):
    from real_layout import build_roberta_dir

    from icar_mm.text import HFTextEncoder, ICARTextEncoder

    roberta_dir = build_roberta_dir(str(tmp_path))  # 40 positions, as set by real_layout.ROBERTA
    with pytest.raises(
        ValueError,
        match=r'context_length=77 tokens, but the roberta tower .* has 40 positions, '
        r'room for 38 tokens; set context_length to at most 38',
    ):
        HFTextEncoder(model_path=roberta_dir)
    encoder = HFTextEncoder(model_path=roberta_dir, context_length=38)
    assert encoder(['a red circle ' * 30]).shape == (1, 256)  # the longest prompt the tower holds runs
    assert ICARTextEncoder(model_path=roberta_dir).context_length == 16


@pytest.mark.parametrize(
    'content,found', [(b'', 'an empty file'), (b'not an image' * 9, "108 bytes starting with b'not an")]
)
def test_corrupt_image_is_named_with_what_it_holds(det_data, tmp_path, content, found):
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from icar_mm.datasets import ImageReadError

    root = tmp_path / 'data'
    shutil.copytree(det_data, root)
    broken = root / 'images' / 'train' / sorted(os.listdir(root / 'images' / 'train'))[0]
    broken.write_bytes(content)
    init_default_scope('mmdet')
    dataset_cfg = Config.fromfile(OV_CONFIG).train_dataloader.dataset
    dataset = DATASETS.build(dict(dataset_cfg, data_root=f'{root}/'))
    index = [i for i in range(len(dataset)) if dataset.get_data_info(i)['img_path'] == str(broken)][0]
    with pytest.raises(
        ImageReadError,
        match=f'Cannot read image {broken}: expected a JPEG.*found {found}.*remove it from the annotation file',
    ):
        dataset[index]
    with pytest.raises(SystemExit, match=f'Cannot read image {broken}'):  # tools/detect.py, tools/segment.py
        tool_helpers().list_images([str(root / 'images' / 'train')])


def test_empty_video_is_named(tmp_path):
    from icar_mm.datasets import VideoInit, VideoReadError

    (tmp_path / 'empty.mp4').write_bytes(b'')
    with pytest.raises(VideoReadError, match='empty.mp4'):
        VideoInit()(dict(filename=str(tmp_path / 'empty.mp4')))


def test_distributed_check_stops_when_ranks_drift_apart(detector, monkeypatch):
    from types import SimpleNamespace

    from icar_mm.engine import DistributedCheckHook, hooks

    classifier = detector.roi_head.bbox_head.classifier
    classifier.last_class_weights = torch.randn(4, classifier.embed_dim)
    monkeypatch.setattr(hooks, 'all_gather', lambda t: [t, t + 1e-6])  # rank 1 holds other weights
    runner = SimpleNamespace(model=detector, iter=6, logger=None)
    with pytest.raises(
        RuntimeError,
        match='At iteration 7 the .*class weights of roi_head.bbox_head.classifier.* differ between the 2 processes',
    ):
        DistributedCheckHook().check(runner)
    classifier.last_class_weights = None
