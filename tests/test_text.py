"""The shared text side: vocabularies, the text encoder, the cosine classifier, checkpoints."""

import pickle

import open_clip
import pytest
import torch
from conftest import TINY_TEXT_ENCODER, TINY_TOWER, initialised

from icar_mm.checkpoints import CheckpointError, load_text_encoder
from icar_mm.classifier import TextCosineClassifier, load_class_weights
from icar_mm.text import OpenCLIPTextEncoder, get_templates, load_vocabulary, shipped_vocabularies

NAMES = ['cat', 'dog', 'sheep', 'train']


@pytest.fixture(scope='module')
def clip_ckpt(tmp_path_factory):
    """A random-init open_clip model (our tiny architecture) and its saved state dict."""
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_TOWER, pretrained=None).eval()
    path = tmp_path_factory.mktemp('clip') / 'open_clip.pth'
    torch.save(model.state_dict(), path)
    return model, str(path)


def make_classifier(ckpt=None, **kw):
    kw.setdefault('vocabulary', NAMES)
    return initialised(TextCosineClassifier(text_encoder=dict(TINY_TEXT_ENCODER, checkpoint=ckpt), **kw))


# --- vocabularies -------------------------------------------------------------------
@pytest.mark.parametrize(
    'name,size',
    [
        ('coco', 80),
        ('voc', 21),
        ('pascal_context_59', 59),
        ('coco_stuff_171', 171),
        ('ade20k_150', 150),
        ('kinetics400', 400),
        ('kinetics600_new', 220),
        ('ucf101', 101),
        ('hmdb51', 51),
    ],
)
def test_shipped_vocabularies_are_complete(name, size):
    vocab = load_vocabulary(name)
    assert len(vocab) == size
    assert all(d and d.endswith('.') for d in vocab.descriptions), 'every class needs a description'
    assert len(vocab.prompts(get_templates('single'))) == size


def test_vocabulary_matches_host_metainfo():
    from mmdet.datasets import CocoDataset
    from mmseg.datasets import ADE20KDataset

    assert load_vocabulary('coco').names == tuple(CocoDataset.METAINFO['classes'])
    assert load_vocabulary('ade20k_150').names == tuple(ADE20KDataset.METAINFO['classes'])


def test_ov_coco_split():
    base, novel = load_vocabulary('coco:ov_base'), load_vocabulary('coco:ov_novel')
    assert (len(base), len(novel)) == (48, 17)
    assert not set(base) & set(novel)
    assert 'umbrella' in novel.names and 'person' in base.names


def test_vocabulary_from_names_file_and_dataset_metainfo(tmp_path):
    # names only: descriptions come from the shipped data
    vocab = load_vocabulary(['person', 'umbrella'])
    assert vocab.descriptions[1] == load_vocabulary('coco').descriptions[25]
    path = tmp_path / 'vocab.txt'
    path.write_text('# my classes\nred kite: a diamond-shaped toy flown on a string.\nblue kite\n')
    vocab = load_vocabulary(str(path))
    assert vocab.names == ('red kite', 'blue kite')
    assert vocab.subset(['red kite']).prompts(['a photo of a {}.']) == [
        ['a photo of a red kite, a diamond-shaped toy flown on a string.']
    ]
    # 'blue kite' has no description of its own: WordNet's 'kite' describes it, unless 'strict'
    assert vocab.origins == ('user', 'wordnet')
    assert vocab.prompts(['a photo of a {}.'], enriched=True)[1][0].startswith(
        'a photo of a blue kite, a kind of kite: '
    )
    with pytest.raises(ValueError, match="1 of 2 classes.*'blue kite'.*plain prompts"):
        vocab.prompts(['a photo of a {}.'], enriched='strict')
    assert vocab.prompts(['a photo of a {}.'], enriched=False)[1] == ['a photo of a blue kite.']


@pytest.mark.parametrize(
    'spec,error,match',
    [
        ([], ValueError, 'Empty vocabulary'),
        (['cat', 'dog', 'cat'], ValueError, "Duplicated class names.*'cat'"),
        (['cat', ''], TypeError, 'non-empty strings'),
        (['cat', 3], TypeError, 'non-empty strings'),
        ('cocoo', KeyError, "Unknown vocabulary 'cocoo'.*shipped vocabularies"),
        ('coco:novel', KeyError, "no split 'novel'.*ov_base"),
        ('missing/vocab.txt', FileNotFoundError, 'does not exist'),
    ],
)
def test_bad_vocabularies_fail_clearly(spec, error, match):
    with pytest.raises(error, match=match):
        load_vocabulary(spec)


def test_template_sets():
    assert len(get_templates('imagenet80')) == 80
    assert len(get_templates('vild14')) == 14
    assert len(get_templates('video28')) == 28
    with pytest.raises(ValueError, match='exactly one'):
        get_templates(['no placeholder'])


# --- classifier core ---------------------------------------------------------------------
def test_class_weights_equal_open_clip_zero_shot_classifier(clip_ckpt):
    model, path = clip_ckpt
    templates = get_templates('imagenet80')
    ours = make_classifier(path, templates=templates, enriched=False).eval()
    reference = open_clip.build_zero_shot_classifier(model, open_clip.get_tokenizer(TINY_TOWER), NAMES, templates)
    torch.testing.assert_close(ours.class_embeddings(), reference.T, atol=1e-5, rtol=0)


def test_text_encoder_loads_icar_layout_and_rejects_bad_checkpoints(clip_ckpt, tmp_path):
    model, path = clip_ckpt
    enc = initialised(OpenCLIPTextEncoder(TINY_TOWER, checkpoint=path))
    # iCAR layout: sentence_model.* (text) next to visual_model.* (image side, left out)
    icar = {'sentence_model.' + k[len('tower.') :]: v for k, v in enc.state_dict().items()}
    icar['visual_model.backbone.patch_embed.proj.weight'] = torch.zeros(1)
    torch.save({'model': icar}, tmp_path / 'icar.pth')
    enc2 = initialised(OpenCLIPTextEncoder(TINY_TOWER, checkpoint=str(tmp_path / 'icar.pth')))
    for (k, a), b in zip(enc.state_dict().items(), enc2.state_dict().values()):
        assert torch.equal(a, b), k

    partial = {k: v for k, v in model.state_dict().items() if 'resblocks.1.' not in k}
    torch.save(partial, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match=r'missing in checkpoint \(\d+\): tower.transformer.resblocks.1'):
        load_text_encoder(enc, str(tmp_path / 'partial.pth'))

    torch.save({'foo.weight': torch.zeros(2)}, tmp_path / 'unknown.pth')
    with pytest.raises(CheckpointError, match='Unknown checkpoint layout.*Known layouts: icar, open_clip'):
        load_text_encoder(enc, str(tmp_path / 'unknown.pth'))

    data = open(path, 'rb').read()
    (tmp_path / 'truncated.pth').write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_text_encoder(enc, str(tmp_path / 'truncated.pth'))

    class Evil:
        def __reduce__(self):
            return (print, ('code ran',))

    with open(tmp_path / 'evil.pth', 'wb') as f:
        pickle.dump({'state_dict': Evil()}, f)
    with pytest.raises(CheckpointError, match='could execute code'):
        load_text_encoder(enc, str(tmp_path / 'evil.pth'))

    torch.save(model.state_dict(), tmp_path / 'ok.pth')
    wide = OpenCLIPTextEncoder('ViT-B-32')
    with pytest.raises(CheckpointError, match='shape mismatch'):
        load_text_encoder(wide, str(tmp_path / 'ok.pth'))


def test_cache_is_hit_and_invalidated(monkeypatch):
    clf = make_classifier(templates='vild14').eval()
    calls = []
    encode = clf.text_encoder.encode_tokens
    monkeypatch.setattr(clf.text_encoder, 'encode_tokens', lambda t: calls.append(len(t)) or encode(t))
    x = torch.randn(5, clf.embed_dim)
    first = clf(x)
    assert calls == [len(NAMES) * 14]
    for _ in range(3):
        assert torch.equal(clf(x), first)
    assert len(calls) == 1, 'a frozen encoder must run once per vocabulary'

    clf.set_vocabulary([('red car', 'a car painted red.'), ('blue car', 'a car painted blue.')])
    assert clf(x).shape == (5, 2) and len(calls) == 2
    clf.set_vocabulary(NAMES)
    assert torch.equal(clf(x), first) and len(calls) == 2, 'switching back is a cache hit'

    state = clf.text_encoder.state_dict()  # new encoder weights invalidate the cache
    state['tower.ln_final.weight'] = state['tower.ln_final.weight'] * 2
    clf.text_encoder.load_state_dict(state)
    clf(x)
    assert len(calls) == 3
    clf.text_encoder.mark_weights_changed()  # after editing frozen weights by hand
    clf(x)
    assert len(calls) == 4

    clf.train()  # frozen training: random templates come from cached per-template embeddings
    clf(x), clf(x)
    assert len(calls) == 5


def test_random_template_per_class_in_training():
    clf = make_classifier(templates='vild14').train()
    torch.manual_seed(0)
    a = clf.class_embeddings()
    b = clf.class_embeddings()
    assert a.shape == (len(NAMES), clf.embed_dim) and not torch.equal(a, b)
    clf.eval()
    assert torch.equal(clf.class_embeddings(), clf.class_embeddings())


def test_exported_weights_give_identical_logits(tmp_path):
    clf = make_classifier(
        in_channels=32, templates='vild14', background='learned', learnable_scale=True, bias=-1.0
    ).eval()
    path = str(tmp_path / 'weights.pth')
    clf.export_class_weights(path)
    exported = TextCosineClassifier(
        class_weights=path, in_channels=32, background='learned', learnable_scale=True, bias=-1.0
    ).eval()
    exported.load_state_dict(clf.state_dict(keep_vars=False), strict=False)
    assert exported.text_encoder is None
    assert exported.class_names == tuple(NAMES)
    x = torch.randn(7, 32)
    assert torch.equal(clf(x), exported(x))
    with pytest.raises(RuntimeError, match='no text encoder'):
        exported.set_vocabulary(['zebra'])

    torch.save(
        {'format': 'icar_mm.class_weights/v1', 'vocabulary': {'classes': ['a', 'b']}, 'embeddings': torch.randn(3, 8)},
        tmp_path / 'bad.pth',
    )
    with pytest.raises(ValueError, match='do not match its 2 classes'):
        load_class_weights(str(tmp_path / 'bad.pth'))
    other = make_classifier()
    torch.save(
        {'format': 'icar_mm.class_weights/v1', 'vocabulary': {'classes': ['a', 'b']}, 'embeddings': torch.randn(2, 8)},
        tmp_path / 'narrow.pth',
    )
    with pytest.raises(ValueError, match='8-d class weights.*64-d'):
        other.set_class_weights(str(tmp_path / 'narrow.pth'))


def test_class_weights_are_checked_alike_on_write_and_read(tmp_path):
    from icar_mm.classifier import save_class_weights

    path = str(tmp_path / 'w.pth')
    emb = torch.nn.functional.normalize(torch.randn(2, 8), dim=1)
    save_class_weights(path, ['a', 'b'], emb, templates=['{}'], enriched=False, note='kept')
    vocab, loaded = load_class_weights(path)
    assert vocab.names == ('a', 'b') and torch.equal(loaded, emb)
    assert torch.load(path, weights_only=True)['note'] == 'kept'
    with pytest.raises(ValueError, match='do not match the 3 classes'):
        save_class_weights(path, ['a', 'b', 'c'], emb)
    bad = emb.clone()
    bad[0, 0] = float('nan')
    with pytest.raises(ValueError, match='NaN or infinite values; refusing to write'):
        save_class_weights(path, ['a', 'b'], bad)
    torch.save(
        {'format': 'icar_mm.class_weights/v1', 'vocabulary': {'classes': ['a', 'b']}, 'embeddings': bad},
        tmp_path / 'nan.pth',
    )
    with pytest.raises(ValueError, match=r"nan\.pth': class weights contain NaN"):
        load_class_weights(str(tmp_path / 'nan.pth'))


def test_logits_are_scaled_cosines_with_background():
    clf = make_classifier(in_channels=16, background='learned').eval()
    x = torch.randn(3, 16)
    logits = clf(x)
    assert logits.shape == (3, len(NAMES) + 1)
    assert logits.abs().max() <= 20 + 1e-4, 'cosine x 1/0.05 is bounded by 20'
    clf.logit_scale.fill_(10.0)  # clamped at 1/0.01
    assert clf(x).abs().max() <= 100 + 1e-3
    zero = make_classifier(background='zero').eval()
    assert torch.equal(zero(torch.randn(2, 64))[:, -1], torch.zeros(2))


@pytest.mark.parametrize('train_templates', ['random', 'ensemble'])
def test_trainable_text_encoder_gets_gradients(train_templates):
    clf = TextCosineClassifier(
        text_encoder=dict(TINY_TEXT_ENCODER, frozen=False),
        vocabulary=NAMES,
        templates='vild14',
        train_templates=train_templates,
        text_chunk_size=8,
    ).train()
    loss = torch.nn.functional.cross_entropy(clf(torch.randn(4, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    grads = [p.grad for p in clf.text_encoder.parameters()]
    assert all(g is not None for g in grads)
    assert clf.text_encoder.tower.transformer.resblocks[0].attn.in_proj_weight.grad.abs().sum() > 0
    # after an optimiser step the test-time embeddings are recomputed, not served stale
    clf.eval()
    before = clf.class_embeddings().clone()
    clf.train()
    torch.optim.SGD(clf.text_encoder.parameters(), lr=1.0).step()
    clf.eval()
    assert not torch.allclose(clf.class_embeddings(), before)


def test_vocabulary_travels_with_the_checkpoint():
    clf = make_classifier()
    follower = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER)
    assert follower.follows_dataset and follower.vocabulary is None
    with pytest.raises(RuntimeError, match='no vocabulary yet.*VocabularyHook'):
        follower(torch.randn(1, 64))
    follower.load_state_dict(clf.state_dict())
    assert follower.class_names == tuple(NAMES)


def test_shipped_vocabulary_list():
    assert {'coco', 'ade20k_150', 'kinetics400', 'ucf101', 'hmdb51'} <= set(shipped_vocabularies())


def test_synthetic_world_vocabulary_is_shipped():
    """Class names of the synthetic data resolve to their descriptions by name."""
    from icar_mm.datasets.synthetic import BASE_CLASSES, NOVEL_CLASSES, synthetic_vocabulary

    shipped = load_vocabulary('synthetic')
    assert [dict(name=n, description=d) for n, d in zip(shipped.names, shipped.descriptions)] == synthetic_vocabulary()
    assert shipped.split('base').names == BASE_CLASSES and shipped.split('novel').names == NOVEL_CLASSES
    assert load_vocabulary(list(NOVEL_CLASSES)).descriptions == shipped.split('novel').descriptions


def test_hf_text_encoder_says_what_is_missing(tmp_path):
    from icar_mm.text import ICARTextEncoder

    with pytest.raises(
        FileNotFoundError, match='ICARTextEncoder needs a local model directory.*roberta-base.*does not exist'
    ):
        ICARTextEncoder(model_path=str(tmp_path / 'roberta-base'))
