"""Automatic class descriptions: WordNet glosses, the plain-prompt fallback, 'strict'."""

import gzip
import logging
import os.path as osp
import subprocess
import sys
import time

import pytest
from conftest import TINY_TEXT_ENCODER

from icar_mm.text import load_vocabulary
from icar_mm.text.descriptions import GLOSS_TABLE, gloss_table, normalise, wordnet_description
from icar_mm.text.vocabulary import Vocabulary, _description_index

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
T = ['a photo of a {}.']
BALLOON = 'balloon for travel through the air in a basket suspended below a large bag of heated air.'
WALL = 'an architectural partition with a height and length greater than its thickness.'


@pytest.fixture
def warnings_logged():
    """Warnings sent to mmengine's current logger, as a list of messages."""
    from mmengine.logging import MMLogger

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    messages, handler, logger = [], Collect(), MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_unshipped_names_get_their_wordnet_gloss():
    names = ['hot air balloon', 'juggle', 'devour', 'zebra']
    assert not set(names[:3]) & set(_description_index()), 'pick names the shipped data lacks'
    vocab = load_vocabulary(names)
    assert vocab.origins == ('wordnet', 'wordnet', 'wordnet', 'shipped')
    assert vocab.descriptions[0] == BALLOON
    assert vocab.descriptions[1] == 'the act of rearranging things to give a misleading impression.'  # nouns first
    assert vocab.descriptions[2] == 'destroy completely.'  # verb-only lemma
    assert vocab.descriptions[3] == _description_index()['zebra'][1] != wordnet_description('zebra')
    assert vocab.prompts(T)[0] == [f'a photo of a hot air balloon, {BALLOON}']
    assert vocab.prompts(T, enriched=False)[0] == ['a photo of a hot air balloon.']


def test_first_sense_cut_at_semicolon_and_common_noun_senses_first():
    # data.noun: "woolly usually horned ruminant mammal related to the goat"
    assert wordnet_description('sheep') == 'woolly usually horned ruminant mammal related to the goat.'
    assert all(';' not in gloss for gloss in list(gloss_table().values())[:5000])
    # index.noun lists the writer Stephen Crane first; the common noun wins
    assert wordnet_description('crane') == 'lifts and moves heavy objects.'


@pytest.mark.parametrize(
    'name',
    [
        'hot air balloon',
        'Hot Air Balloon',
        'hot-air balloon',
        'hot_air_balloon',
        '  hot   air\tballoon ',
        'hot air balloons',
        'HOT-AIR-BALLOONS',
    ],
)
def test_normalisation(name):
    assert wordnet_description(name) == BALLOON


@pytest.mark.parametrize(
    'plural,singular',
    [('zebras', 'zebra'), ('berries', 'berry'), ('boxes', 'box'), ('buses', 'bus'), ('t_shirts', 't-shirt')],
)
def test_plurals(plural, singular):
    assert wordnet_description(plural) == wordnet_description(singular) is not None
    assert normalise('T-Shirt') == normalise('t_shirt') == 't shirt'


def test_head_noun_of_an_unknown_compound():
    assert wordnet_description('grey wall') == f'a kind of wall: {WALL}'
    assert wordnet_description('grey walls') == f'a kind of wall: {WALL}'
    # the longest known tail
    assert wordnet_description('old hot air balloon') == f'a kind of hot air balloon: {BALLOON}'
    # not a noun compound: an action, a phrase; a verb is no head
    assert wordnet_description('strumming ukulele') is None
    assert wordnet_description('ukulele in a box') is None
    assert wordnet_description('quickly devour') is None
    vocab = load_vocabulary(['grey wall'])
    assert vocab.origins == ('wordnet',)
    assert vocab.prompts(T) == [[f'a photo of a grey wall, a kind of wall: {WALL}']]


def test_unknown_names_fall_back_to_plain_prompts_with_one_warning(warnings_logged):
    vocab = load_vocabulary(['hot air balloon', 'qwxz blorf', 'zzyzx'])
    assert vocab.origins == ('wordnet', 'none', 'none') and vocab.descriptions[1:] == (None, None)
    assert warnings_logged == []  # nothing until enriched prompts are asked for
    assert vocab.prompts(T, enriched=False) == [
        ['a photo of a hot air balloon.'],
        ['a photo of a qwxz blorf.'],
        ['a photo of a zzyzx.'],
    ]
    assert warnings_logged == []
    for _ in range(3):  # a classifier asks for prompts every training step
        prompts = vocab.prompts(T + ['a {} in the scene.'])
    assert prompts[1:] == [
        ['a photo of a qwxz blorf.', 'a qwxz blorf in the scene.'],
        ['a photo of a zzyzx.', 'a zzyzx in the scene.'],
    ]
    assert prompts[0][0] == f'a photo of a hot air balloon, {BALLOON}'
    assert len(warnings_logged) == 1
    assert '2 of 3 classes' in warnings_logged[0] and "'qwxz blorf', 'zzyzx'" in warnings_logged[0]
    assert 'hot air balloon' not in warnings_logged[0]
    load_vocabulary(['zzyzx']).prompts(T)  # a new load warns again
    assert len(warnings_logged) == 2 and "'zzyzx'" in warnings_logged[1]
    load_vocabulary(['hot air balloon']).prompts(T)  # everything described: silent
    assert len(warnings_logged) == 2


def test_strict_keeps_the_missing_description_error():
    vocab = load_vocabulary(['zebra', 'hot air balloon', 'zzyzx'])
    for names in (['hot air balloon'], ['zzyzx'], ['zebra', 'hot air balloon', 'zzyzx']):
        with pytest.raises(
            ValueError, match=f'Enriched prompts need a description for every class.*{names[-1]!r}.*enriched=False'
        ):
            vocab.subset(names).prompts(T, enriched='strict')
    assert vocab.subset(['zebra']).prompts(T, 'strict') == vocab.subset(['zebra']).prompts(T)
    own = load_vocabulary([('hot air balloon', 'a big balloon.'), 'zebra'])
    assert own.prompts(T, enriched='strict')[0] == ['a photo of a hot air balloon, a big balloon.']
    with pytest.raises(ValueError, match="enriched must be True.*'strict'.*False"):
        own.prompts(T, enriched='yes')


def test_classifier_accepts_strict():
    import torch

    from icar_mm.classifier import TextCosineClassifier

    torch.manual_seed(0)
    vocabulary = ['zebra', ('hot air balloon', 'a big balloon.')]
    strict = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER, vocabulary=vocabulary, enriched='strict').eval()
    relaxed = TextCosineClassifier(text_encoder=TINY_TEXT_ENCODER, vocabulary=vocabulary, enriched=True).eval()
    relaxed.text_encoder.load_state_dict(strict.text_encoder.state_dict())
    assert torch.allclose(strict.class_embeddings(), relaxed.class_embeddings())
    strict.set_vocabulary(['zebra', 'hot air balloon'])
    with pytest.raises(ValueError, match="1 of 2 classes.*'hot air balloon'"):
        strict.class_embeddings()
    relaxed.set_vocabulary(['zebra', 'hot air balloon'])
    assert relaxed.class_embeddings().shape[0] == 2


def test_user_descriptions_win(tmp_path):
    path = tmp_path / 'vocab.txt'
    path.write_text('zebra: my own zebra.\nhot air balloon: my own balloon.\ngrey wall\n')
    vocab = load_vocabulary(str(path))
    assert vocab.descriptions[:2] == ('my own zebra.', 'my own balloon.')
    assert vocab.origins == ('user', 'user', 'wordnet')
    assert load_vocabulary([dict(name='zebra', description='mine.')]).origins == ('user',)
    assert load_vocabulary([('hot air balloon', 'mine.')]).descriptions == ('mine.',)
    json_path = tmp_path / 'vocab.json'
    json_path.write_text('{"classes": [{"name": "hot air balloon", "description": "mine."}, {"name": "juggle"}]}')
    assert load_vocabulary(str(json_path)).origins == ('user', 'wordnet')
    # a prompt text, not the name, is what WordNet is asked about
    assert load_vocabulary([dict(name='n02782093', text='hot air balloon')]).descriptions == (BALLOON,)


def test_origins_travel_and_descriptions_enter_the_fingerprint():
    vocab = load_vocabulary(['zebra', 'hot air balloon', 'zzyzx', ('grey wall', 'mine.')])
    again = load_vocabulary(vocab.to_dict()['classes'])
    assert again == vocab and again.origins == vocab.origins and again.fingerprint == vocab.fingerprint
    # a saved "none" stays undescribed (the embedding it was trained with), a saved gloss stays
    saved = [
        dict(name='hot air balloon', description=None, origin='none'),
        dict(name='juggle', description='an old gloss.', origin='wordnet'),
    ]
    assert load_vocabulary(saved).descriptions == (None, 'an old gloss.')
    assert load_vocabulary(saved).origins == ('none', 'wordnet')
    prints = {
        load_vocabulary(['hot air balloon']).fingerprint,  # the WordNet gloss
        load_vocabulary([('hot air balloon', 'x.')]).fingerprint,
        Vocabulary(('hot air balloon',), ('hot air balloon',), (None,)).fingerprint,
    }
    assert len(prints) == 3
    assert vocab.subset(['zzyzx', 'zebra']).origins == ('none', 'shipped')
    assert Vocabulary(('a', 'b'), ('a', 'b'), ('x.', None)).origins == ('user', 'none')
    with pytest.raises(ValueError, match='origins must give one of'):
        Vocabulary(('a',), ('a',), (None,), origins=('wordnet',))


def test_gloss_table_is_small_lazy_and_fast():
    assert osp.getsize(GLOSS_TABLE) < 4 * 2**20
    with gzip.open(GLOSS_TABLE, 'rt', encoding='utf-8') as f:
        header = [next(f) for _ in range(4)]
    assert any('WordNet 3.0 Copyright 2006 by Princeton University' in line for line in header)
    assert osp.isfile(osp.join(osp.dirname(GLOSS_TABLE), 'WORDNET_LICENSE.txt'))
    gloss_table.cache_clear()
    load_vocabulary(['zebra', 'person'])  # shipped names: the table is not read
    assert gloss_table.cache_info().currsize == 0
    start = time.perf_counter()
    table = gloss_table()
    seconds = time.perf_counter() - start
    print(f'gloss table: {len(table)} entries read in {seconds:.3f} s')
    assert len(table) > 100_000 and seconds < 2.0  # ~0.15 s on an idle core
    start = time.perf_counter()
    assert gloss_table() is table and time.perf_counter() - start < 0.01


@pytest.mark.skipif(
    not osp.isfile('/usr/share/wordnet/data.noun'),
    reason='needs the WordNet 3.0 database (Debian: apt-get install wordnet-base)',
)
def test_the_builder_reproduces_the_shipped_table(tmp_path):
    out = tmp_path / 'glosses.tsv.gz'
    subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'dataset_converters', 'wordnet_glosses.py'), '--out', str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert out.read_bytes() == open(GLOSS_TABLE, 'rb').read()
