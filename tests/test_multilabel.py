"""Multi-label zero-shot recognition: sentences, pseudo visual prompts, the
metric, the datasets, and the train/test tools on a tiny config."""

import json
import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import TEST_CONFIGS, TINY_TEXT_ENCODER, built_once, data_root_options, initialised, run_tool

from icar_mm.datasets.synthetic import ALL_CLASSES, write_detection_set
from icar_mm.evaluation.multilabel import MultiLabelMetric, average_precision, multilabel_metrics
from icar_mm.multilabel import (
    ClassWordParser,
    CocoMultiLabelDataset,
    PVPMultiLabelClassifier,
    SentenceDataset,
    SentenceGenerator,
    VOCMultiLabelDataset,
    load_sentence_file,
    write_sentence_file,
)
from icar_mm.multilabel.sentences import (
    SENTENCE_DIR,
    SHIPPED_CORPORA,
    class_words,
    corpus_vocabulary,
    write_shipped_corpora,
)
from icar_mm.multilabel.synthetic import JointSpace, fit_on_embeddings, scene_objects, zero_shot_map


def words_of(text):
    return ' ' + ' '.join(re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())) + ' '


# --- sentences ---------------------------------------------------------------------------
@pytest.mark.parametrize('corpus', sorted(SHIPPED_CORPORA))
def test_generated_labels_are_the_inserted_class_words(corpus):
    vocab = corpus_vocabulary(corpus)
    gen = SentenceGenerator(vocab, seed=3)
    words = class_words(vocab)
    for s in gen.generate(800):
        assert s.labels == tuple(name for name, _ in s.mentions)
        assert 2 <= len(s.labels) <= 4 and len(set(s.labels)) == len(s.labels)
        for name, word in s.mentions:
            assert word in words[name]
            assert f' {word} ' in words_of(s.text), (word, s.text)
        # reading the sentence back finds exactly the inserted classes, nothing from the scenery
        assert set(gen.parser(s.text)) == set(s.labels), s
    assert gen.skipped == 0
    again = SentenceGenerator(vocab, seed=3).generate(50)
    assert [s.text for s in again] == [s.text for s in SentenceGenerator(vocab, seed=3).generate(50)]


def test_parser_prefers_longest_class_words():
    parser = ClassWordParser(class_words('coco'))
    assert parser('A hot dog next to two dogs and a teddy bear.') == ('hot dog', 'dog', 'teddy bear')
    assert parser('a kitten on the sofa near a television') == ('cat', 'couch', 'tv')
    assert parser('an empty room') == ()


def test_synonyms_owned_by_another_class_are_dropped():
    # 'plane' is a COCO synonym of airplane, but a class of its own in NUS-WIDE
    assert 'plane' in class_words('coco')['airplane']
    nus = class_words('nuswide_81')
    assert 'plane' in nus['plane'] and not any('plane' == w for n, ws in nus.items() if n != 'plane' for w in ws)
    with pytest.raises(ValueError, match='not classes of vocabulary'):
        class_words('voc', synonyms={'unicorn': ['horse with a horn']})


def test_shipped_corpora_are_the_generator_output(tmp_path):
    regenerated = write_shipped_corpora(str(tmp_path))
    for name, (_, num, _) in SHIPPED_CORPORA.items():
        shipped = osp.join(SENTENCE_DIR, f'{name}.txt')
        with open(shipped) as a, open(regenerated[name]) as b:
            assert a.read() == b.read(), f'{shipped} differs from write_shipped_corpora(); regenerate it'
        data = load_sentence_file(name, corpus_vocabulary(name))
        assert len(data) == num >= 3000
        assert len({t for t, _ in data}) == num
        counts = np.bincount([i for _, ls in data for i in ls], minlength=len(corpus_vocabulary(name)))
        assert counts.min() > 0.3 * counts.mean()  # every class is well represented


def test_sentence_file_format_and_errors(tmp_path):
    path = tmp_path / 's.txt'
    write_sentence_file(str(path), [('a cat on a sofa', ['cat', 'sofa'])], header='my sentences')
    assert load_sentence_file(str(path), 'voc') == [('a cat on a sofa', (8, 18))]
    for text, match in (
        ('a cat\tcat,unicorn\n', r"s.txt:1: unknown label\(s\) \['unicorn'\]"),
        ('a cat\tcat\n\nx\tdog\n', 's.txt:2: empty line'),
        ('a cat and a dog\n', 's.txt:1: no TAB'),
        ('a cat\t \n', 's.txt:1: no labels'),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=match):
            load_sentence_file(str(path), 'voc')
    with pytest.raises(FileNotFoundError, match='coco80'):
        load_sentence_file(str(tmp_path / 'missing.txt'), 'voc')


# --- metric ------------------------------------------------------------------------------
def test_average_precision_matches_hand_computation():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    # positives at ranks 1, 3, 5: precisions 1/1, 2/3, 3/5
    assert average_precision(scores, np.array([1, 0, 1, 0, 1])) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # an ignored (difficult) item takes no rank: positives at ranks 1, 2, 4 of the rest
    assert average_precision(scores, np.array([1, -1, 1, 0, 1])) == pytest.approx((1 + 1 + 3 / 4) / 3)
    assert np.isnan(average_precision(scores, np.zeros(5)))

    S = np.array([[0.9, 0.2, 0.6], [0.3, 0.8, 0.4], [0.7, 0.6, 0.1]])
    T = np.array([[1, 0, 1], [0, 1, 0], [0, 1, 0]])
    m = multilabel_metrics(S, T, thr=0.5)
    # class APs: c0 1/1 ; c1 positives ranks 1,2 -> 1 ; c2 rank 1 -> 1
    assert m['mAP'] == pytest.approx(100.0)
    # predicted: (0,0) tp, (0,2) tp, (1,1) tp, (2,0) fp, (2,1) tp -> per class P = [1/2, 1, 1], R = [1, 1, 1]
    assert m['CP'] == pytest.approx(100 * (0.5 + 1 + 1) / 3)
    assert m['CR'] == pytest.approx(100.0)
    assert m['OP'] == pytest.approx(80.0) and m['OR'] == pytest.approx(100.0)
    assert m['OF1'] == pytest.approx(2 * 80 * 100 / 180)

    metric = MultiLabelMetric(thr=0.5, classwise=True)
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    metric.process({}, [dict(pred_score=torch.tensor(s), gt_label=torch.tensor(t)) for s, t in zip(S, T)])
    out = metric.evaluate(3)
    assert out['multi-label/mAP'] == pytest.approx(100.0) and 'multi-label/AP/b' in out


# --- pseudo visual prompts -----------------------------------------------------------------
@pytest.fixture
def one_thread():
    # the synthetic runs multiply 64-d matrices: extra threads only add overhead on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_model(tmp_path, space, **kwargs):
    torch.manual_seed(0)
    model = PVPMultiLabelClassifier(
        classifier=dict(class_weights=space.write_class_weights(str(tmp_path / 'labels.pth'))), **kwargs
    )
    model.init_prompts()
    return model


def test_pseudo_visual_prompts_beat_text_labels(tmp_path, one_thread):
    """Prompts learned from sentences alone (no image label) score multi-object
    images better than the plain text labels, and the transfer pulls the text
    labels towards the prompts."""
    space = JointSpace(ALL_CLASSES, seed=0)
    sentences = [s.labels for s in SentenceGenerator(ALL_CLASSES, min_classes=1, max_classes=3).generate(2000)]
    images = scene_objects(400, seed=1)
    X, Y = space.images(images), space.targets(images)
    model = synthetic_model(tmp_path, space)
    plain = zero_shot_map(model, X, Y, dict(frozen_text=1.0))
    text_before = model.text_embeddings().clone()
    curve = fit_on_embeddings(model, space.sentences(sentences), space.targets(sentences), iters=200)
    assert np.mean(curve[-20:]) < 0.5 * np.mean(curve[:20])
    pvp = zero_shot_map(model, X, Y, dict(frozen_prompt=1.0))
    both = zero_shot_map(model, X, Y, dict(frozen_prompt=0.5, frozen_text=0.5))
    assert pvp > plain + 5 and both > plain + 5, (plain, pvp, both)
    prompts = model.prompt_embeddings().detach()
    after = (model.text_embeddings().detach() * prompts).sum(-1)
    assert after.mean() > (text_before * prompts).sum(-1).mean() + 0.05
    # the learned prompts export as class weights any text classifier can use
    model.export_class_weights(str(tmp_path / 'pvp.pth'))
    from icar_mm.classifier import load_class_weights

    vocab, emb = load_class_weights(str(tmp_path / 'pvp.pth'))
    assert vocab.names == ALL_CLASSES and torch.allclose(emb, prompts)


def test_bce_and_bad_configs(tmp_path):
    space = JointSpace(ALL_CLASSES, seed=0)
    model = synthetic_model(tmp_path, space, loss=dict(type='bce'), label_adapter='residual')
    s = space.sentences([['red circle', 'blue square']] * 4)
    losses = model.embedding_losses(s, space.targets([['red circle', 'blue square']] * 4))
    assert set(losses) == {'loss_prompt', 'loss_text', 'loss_transfer'}
    with pytest.raises(ValueError, match='need image_adapter'):
        synthetic_model(tmp_path, space, score_weights=dict(adapted_prompt=1.0))
    with pytest.raises(ValueError, match="'asl' or 'bce'"):
        synthetic_model(tmp_path, space, loss=dict(type='focal'))
    with pytest.raises(ValueError, match='needs a vocabulary'):
        PVPMultiLabelClassifier(classifier=dict(text_encoder=TINY_TEXT_ENCODER))


# --- datasets ------------------------------------------------------------------------------
def test_coco_and_voc_multilabel_targets(tmp_path):
    ann = write_detection_set(str(tmp_path / 'coco'), 'val', num_images=6, size=64, seed=2)
    ds = CocoMultiLabelDataset(ann_file=ann, data_prefix=dict(img=str(tmp_path / 'coco/images/val')), pipeline=[])
    data = json.load(open(ann))
    assert ds.metainfo['classes'] == ALL_CLASSES and len(ds) == 6
    for i, img in enumerate(data['images']):
        cats = {a['category_id'] - 1 for a in data['annotations'] if a['image_id'] == img['id']}
        assert set(np.flatnonzero(ds[i]['gt_label'] == 1)) == cats

    root = tmp_path / 'VOC2007'
    (root / 'ImageSets/Main').mkdir(parents=True)
    (root / 'Annotations').mkdir()
    (root / 'ImageSets/Main/test.txt').write_text('000001\n')
    objs = [('dog', 0), ('person', 1), ('cat', 0), ('cat', 1)]
    (root / 'Annotations/000001.xml').write_text(
        '<annotation>'
        + ''.join(f'<object><name>{n}</name><difficult>{d}</difficult></object>' for n, d in objs)
        + '</annotation>'
    )
    voc = VOCMultiLabelDataset(data_root=str(root), pipeline=[])
    label = voc[0]['gt_label']
    names = voc.metainfo['classes']
    assert label[names.index('dog')] == 1 and label[names.index('cat')] == 1
    assert label[names.index('person')] == -1 and (label == 0).sum() == 17  # difficult-only: ignored

    sentences = SentenceDataset(ann_file='voc20')
    assert sentences.metainfo['classes'] == names and len(sentences) == 4000
    packed = sentences[0]
    assert isinstance(packed['inputs'], str) and packed['data_samples'].gt_label.shape == (20,)


# --- tools ---------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def sentence_run(tmp_path_factory):
    """tools/train.py on sentences only (validating on images at the end)."""

    def build(tmp):
        root = tmp / 'data'
        write_detection_set(str(root), 'train', num_images=8, size=64, seed=0)
        write_detection_set(str(root), 'val', num_images=6, size=64, seed=1)
        write_sentence_file(str(root / 'sentences.txt'), SentenceGenerator(ALL_CLASSES).generate(200))
        config = osp.join(TEST_CONFIGS, 'tiny_multilabel.py')
        run_tool('tools/train.py', config, '--work-dir', tmp / 'work', '--cfg-options', *data_root_options(root))

    tmp = built_once(tmp_path_factory, 'multilabel', build)
    log = next((tmp / 'work').glob('*/*.log')).read_text()
    assert re.search(r'loss_prompt: [\d.]+ +loss_text: [\d.]+ +loss_transfer', log)
    data = data_root_options(tmp / 'data')
    return tmp, data, tmp / 'work' / 'iter_20.pth'


@pytest.mark.slow
def test_train_on_sentences_then_test_on_images(sentence_run):
    tmp, data, ckpt = sentence_run
    assert ckpt.is_file()
    out = run_tool(
        'tools/test.py',
        osp.join(TEST_CONFIGS, 'tiny_multilabel.py'),
        ckpt,
        '--work-dir',
        tmp / 'test',
        '--cfg-options',
        *data,
    )
    assert re.search(r'multi-label/mAP: \d', out) and 'multi-label/CF1' in out
    assert 'multi-label/AP/red square' in out


@pytest.mark.slow
def test_dual_adapter_fine_tuning(sentence_run):
    """From the sentence-trained model, only the image adapter learns from image labels."""
    tmp, data, ckpt = sentence_run
    out = run_tool(
        'tools/train.py',
        osp.join(TEST_CONFIGS, 'tiny_multilabel_adapter.py'),
        '--work-dir',
        tmp / 'adapter',
        '--cfg-options',
        *data,
        f'load_from={ckpt}',
    )
    assert 'loss_image' in out and re.search(r'multi-label/mAP: \d', out)
    state = torch.load(tmp / 'adapter' / 'iter_10.pth', weights_only=False, map_location='cpu')['state_dict']
    trained = torch.load(ckpt, weights_only=False, map_location='cpu')['state_dict']
    assert any(k.startswith('image_adapter.') for k in state)
    assert not any(k.startswith('image_adapter.') for k in trained)
    assert torch.equal(state['prompts'], trained['prompts'])
    assert torch.equal(state['label_linear.weight'], trained['label_linear.weight'])


def test_pooled_icar_swin_encoder_loads_projector(tmp_path):
    """The iCAR image side: Swin built through MODELS, pooled, projected with the
    checkpoint's visual_model.projector."""
    from icar_mm.multilabel import PooledImageEncoder

    proj = torch.randn(64, 256)
    torch.save({'state_dict': {'visual_model.projector.weight': proj}}, tmp_path / 'icar.pth')
    enc = PooledImageEncoder(
        backbone=dict(
            type='icar_mm.ICARSwin', embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], out_indices=(3,)
        ),
        in_channels=256,
        embed_dim=64,
        projector_checkpoint=str(tmp_path / 'icar.pth'),
    )
    enc.init_weights()
    assert torch.equal(enc.projection.weight, proj)
    assert not any(p.requires_grad for p in enc.parameters())
    with torch.no_grad():
        assert enc(torch.randn(2, 3, 64, 64)).shape == (2, 64)
    torch.save({'state_dict': {'other.weight': proj}}, tmp_path / 'bad.pth')
    from icar_mm.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match=r'bad\.pth holds no image projector \(visual_model\.projector\.weight\)'):
        PooledImageEncoder(
            backbone=dict(
                type='icar_mm.ICARSwin', embed_dims=32, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], out_indices=(3,)
            ),
            in_channels=256,
            embed_dim=64,
            projector_checkpoint=str(tmp_path / 'bad.pth'),
        ).init_weights()


def test_open_clip_image_encoder_loads_through_the_checkpoint_readers(tmp_path):
    """OpenCLIP files (``visual.*``) and our models (``image_encoder.visual.*``)
    load strictly; an iCAR Swin file is refused with what to use instead."""
    from conftest import TINY_TOWER

    from icar_mm.checkpoints import CheckpointError
    from icar_mm.multilabel import OpenCLIPImageEncoder

    source = OpenCLIPImageEncoder(model_name=TINY_TOWER)
    visual = source.visual.state_dict()
    torch.save(
        {'state_dict': {**{f'visual.{k}': v for k, v in visual.items()}, 'logit_scale': torch.ones(())}},
        tmp_path / 'clip.pth',
    )
    torch.save({'state_dict': {f'image_encoder.visual.{k}': v for k, v in visual.items()}}, tmp_path / 'pvp.pth')
    for name in ('clip.pth', 'pvp.pth'):
        loaded = initialised(OpenCLIPImageEncoder(model_name=TINY_TOWER, checkpoint=str(tmp_path / name)))
        assert all(torch.equal(v, visual[k]) for k, v in loaded.visual.state_dict().items())
    torch.save({'model': {'visual_model.projector.weight': torch.randn(4, 8)}}, tmp_path / 'icar.pth')
    with pytest.raises(
        CheckpointError, match=r'icar\.pth \(icar layout\) holds no open_clip image tower.*PooledImageEncoder'
    ):
        OpenCLIPImageEncoder(model_name=TINY_TOWER, checkpoint=str(tmp_path / 'icar.pth')).init_weights()
