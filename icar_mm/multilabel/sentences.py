"""Multi-label sentences: texts that stand in for images.

A vision-language model puts a sentence and a photo of what it describes close
together, so sentences that mention several classes are cheap multi-label
training data for pseudo visual prompts. This module

  * generates such sentences for any vocabulary (:class:`SentenceGenerator`):
    each sentence inserts the words of a few classes (their names or shipped
    synonyms, singular or plural) into a varied scene template, and its label
    set is exactly the classes whose words it inserted;
  * labels free text by its class words (:class:`ClassWordParser`, longest
    match first, so "hot dog" is not a "dog");
  * reads and writes sentence files, one sentence and its labels per line::

        a dog sleeping next to a cat on the sofa<TAB>dog,cat,couch

    blank lines and lines starting with ``#`` are skipped; every label must be
    a class of the vocabulary.

Shipped corpora (made by :func:`write_shipped_corpora` with fixed seeds):
``coco80``, ``voc20`` and ``nuswide81`` under ``icar_mm/multilabel/sentences/``.
"""

import functools
import json
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..text.vocabulary import Vocabulary, VocabularyLike, load_vocabulary

SENTENCE_DIR = osp.join(osp.dirname(__file__), 'sentences')

# Shipped corpora: file stem -> (vocabulary spec, number of sentences, seed).
VOC_CLASSES = (
    'aeroplane',
    'bicycle',
    'bird',
    'boat',
    'bottle',
    'bus',
    'car',
    'cat',
    'chair',
    'cow',
    'diningtable',
    'dog',
    'horse',
    'motorbike',
    'person',
    'pottedplant',
    'sheep',
    'sofa',
    'train',
    'tvmonitor',
)
SHIPPED_CORPORA = {
    'coco80': ('coco', 6000, 80),
    'voc20': (VOC_CLASSES, 4000, 20),
    'nuswide81': ('nuswide_81', 6000, 81),
}


def corpus_vocabulary(name: str) -> Vocabulary:
    """The vocabulary a shipped corpus is labelled with (VOC without background)."""
    spec = SHIPPED_CORPORA[name][0]
    return load_vocabulary(spec) if isinstance(spec, str) else load_vocabulary('voc').subset(spec, 'voc20')


# --- scene material ---------------------------------------------------------------------
# Templates hold one '{objs}' slot (the class mentions) and optionally '{scene}'.
TEMPLATES = (
    'a photo of {objs} {scene}.',
    'there is {objs} {scene}.',
    'an image showing {objs} {scene}.',
    'in this picture we can see {objs} {scene}.',
    'a close-up shot of {objs}.',
    '{objs} {scene}.',
    'someone took a picture of {objs} {scene}.',
    'a blurry snapshot of {objs}.',
    'a view of {objs} {scene}, taken on a sunny afternoon.',
    'a black and white photograph of {objs}.',
    'this scene contains {objs}.',
    'a wide shot of {objs} {scene}.',
    '{objs} can be seen {scene}.',
    'an old postcard with {objs} {scene}.',
    'a candid photo with {objs} {scene} in the evening light.',
    'we spotted {objs} {scene}.',
    'a low angle shot of {objs} {scene}.',
    'a cropped picture featuring {objs}.',
    'the photographer captured {objs} {scene}.',
    'a detailed view of {objs} {scene} on a cloudy morning.',
    'a quick phone snap of {objs} {scene}.',
    'an amateur photo showing {objs}.',
    'a magazine picture of {objs} {scene}.',
    'a grainy film photo of {objs} {scene}.',
)
SCENES = (
    'in the kitchen',
    'in a living room',
    'at the park',
    'on a busy street',
    'near the beach',
    'in the city centre',
    'inside an office',
    'in a small village',
    'on a farm',
    'in the countryside',
    'at the market',
    'in the backyard',
    'next to the river',
    'in a parking lot',
    'at a train station',
    'in the mountains',
    'at the airport',
    'in a bedroom',
    'on a snowy day',
    'in the rain',
    'at night',
    'in a restaurant',
    'in a classroom',
    'at the zoo',
    'on a dirt path',
    'near a lake',
    'in a forest',
    'in the garden',
    'at the harbour',
    'on a bright summer day',
    'in a crowded hall',
    'under a bridge',
    'at the stadium',
    'near an old building',
    'in a quiet corner',
    'on the table',
    'at a campsite',
    'by the window',
    'in the desert',
    'at the festival',
    'on a rooftop',
    'at home',
)
ADJECTIVES = (
    'small',
    'large',
    'old',
    'new',
    'bright',
    'dark',
    'colorful',
    'distant',
    'wet',
    'shiny',
    'tiny',
    'huge',
    'dusty',
    'clean',
    'white',
    'black',
    'brown',
    'pretty',
    'lonely',
    'famous',
)
JOINERS = (' and ', ' with ', ' next to ', ' beside ', ' near ', ' behind ', ' in front of ')
SINGULAR_DETS = ('a', 'the', 'one', 'a', 'this', 'that')
PLURAL_DETS = ('two', 'three', 'several', 'some', 'many', 'a few', 'the')
MASS_DETS = ('', 'the', 'some')


@functools.lru_cache(maxsize=1)
def _word_data() -> dict:
    with open(osp.join(SENTENCE_DIR, 'synonyms.json'), encoding='utf-8') as f:
        return json.load(f)


def _tokens(text: str) -> Tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower()))


def plural(word: str, irregular: Optional[Dict[str, str]] = None) -> str:
    """English plural of a (multi-word) noun: the last word is inflected."""
    irregular = _word_data()['irregular_plurals'] if irregular is None else irregular
    if word in irregular:
        return irregular[word]
    head, _, last = word.rpartition(' ')
    if last in irregular:
        p = irregular[last]
    elif last.endswith(('s', 'x', 'z', 'ch', 'sh')):
        p = last + 'es'
    elif last.endswith('y') and last[-2:-1] not in 'aeiou':
        p = last[:-1] + 'ies'
    else:
        p = last + 's'
    return f'{head} {p}' if head else p


def _is_plural(word: str) -> bool:
    last = word.split(' ')[-1]
    irregular = _word_data()['irregular_plurals']
    if last in irregular.values():
        return last not in irregular or irregular[last] == last and last.endswith('s')
    return last.endswith('s') and not last.endswith(('ss', 'us', 'is'))


class ClassWordParser:
    """Find the classes a text mentions by their words (names, synonyms and
    plurals), longest match first, whole words only, case-insensitive."""

    def __init__(self, words: Dict[str, Sequence[str]]):
        self.index: Dict[Tuple[str, ...], str] = {}
        for name, ws in words.items():
            for w in ws:
                toks = _tokens(w)
                if toks:
                    self.index.setdefault(toks, name)
        self.max_len = max(map(len, self.index), default=1)

    def mentions(self, text: str) -> List[Tuple[str, str]]:
        """``[(class, matched words), ...]`` in reading order."""
        toks, out, i = _tokens(text), [], 0
        while i < len(toks):
            for n in range(min(self.max_len, len(toks) - i), 0, -1):
                name = self.index.get(toks[i : i + n])
                if name is not None:
                    out.append((name, ' '.join(toks[i : i + n])))
                    i += n
                    break
            else:
                i += 1
        return out

    def __call__(self, text: str) -> Tuple[str, ...]:
        """Sorted-by-first-mention, de-duplicated class names."""
        return tuple(dict.fromkeys(name for name, _ in self.mentions(text)))


def class_words(
    vocabulary: VocabularyLike, synonyms: Union[str, Dict[str, Sequence[str]], None] = 'shipped', plurals: bool = True
) -> Dict[str, Tuple[str, ...]]:
    """Words naming each class: its prompt text, its synonyms and their plurals.

    A synonym that another class of the vocabulary owns (as its own name or an
    earlier-listed word) is dropped for this class, so each word names one class.
    ``synonyms``: ``'shipped'`` (icar_mm's list), a dict ``{class: [words]}`` or None.
    """
    vocab = load_vocabulary(vocabulary)
    if synonyms == 'shipped':
        synonyms = _word_data()['synonyms']  # shared by all shipped vocabularies: keys may be absent
    else:
        unknown = [k for k in (synonyms or {}) if k not in vocab.names]
        if unknown:
            raise ValueError(
                f'Synonyms given for {unknown[:5]}, which are not classes of vocabulary '
                f'{vocab.source!r}; keys must be its class names, e.g. {list(vocab.names[:3])}.'
            )
    synonyms = dict(synonyms or {})
    own = {_tokens(t): n for n, t in zip(vocab.names, vocab.texts)}
    own.update({_tokens(n): n for n in vocab.names if _tokens(n) not in own})
    taken = dict(own)
    words: Dict[str, List[str]] = {n: [] for n in vocab.names}
    for name, text in zip(vocab.names, vocab.texts):
        base = [' '.join(_tokens(text))] + [' '.join(_tokens(s)) for s in synonyms.get(name, ())]
        forms = []
        for w in base:
            forms.append(w)
            if plurals and not _is_plural(w) and w not in _word_data()['mass']:
                forms.append(plural(w))
        for w in forms:
            owner = taken.setdefault(_tokens(w), name)
            if owner == name and w not in words[name]:
                words[name].append(w)
    return {n: tuple(ws) for n, ws in words.items()}


@dataclass(frozen=True)
class Sentence:
    text: str
    labels: Tuple[str, ...]  # class names, in order of mention
    mentions: Tuple[Tuple[str, str], ...]  # (class, inserted words)


class SentenceGenerator:
    """Deterministic multi-label sentences for a vocabulary.

    Args:
        vocabulary: any vocabulary spec (dataset name, list of names, file).
        synonyms: ``'shipped'``, a dict ``{class: [words]}`` or None (names only).
        min_classes / max_classes: how many distinct classes a sentence mentions.
        seed: the same seed gives the same sentences.
    """

    def __init__(
        self, vocabulary: VocabularyLike, synonyms='shipped', min_classes: int = 2, max_classes: int = 4, seed: int = 0
    ):
        self.vocabulary = load_vocabulary(vocabulary)
        if not 1 <= min_classes <= max_classes:
            raise ValueError(f'Need 1 <= min_classes <= max_classes, got {min_classes}, {max_classes}.')
        if max_classes > len(self.vocabulary):
            raise ValueError(f'max_classes={max_classes} exceeds the {len(self.vocabulary)} classes.')
        self.min_classes, self.max_classes = min_classes, max_classes
        self.words = class_words(self.vocabulary, synonyms)
        self.parser = ClassWordParser(self.words)
        self.rng = np.random.default_rng(seed)
        # Scene material naming a class would add labels nobody inserted: drop it for this vocabulary.
        clean = lambda items: tuple(t for t in items if not self.parser(t.replace('{objs}', '').replace('{scene}', '')))  # noqa: E731
        self.templates, self.scenes, self.adjectives = clean(TEMPLATES), clean(SCENES), clean(ADJECTIVES)
        self.mass = set(_word_data()['mass'])
        self.skipped = 0  # sentences whose parse disagreed with what was inserted (never kept)

    def _choice(self, items):
        return items[int(self.rng.integers(len(items)))]

    def _phrase(self, word: str) -> str:
        if word in self.mass:
            det = self._choice(MASS_DETS)
        elif _is_plural(word):
            det = self._choice(PLURAL_DETS)
        else:
            det = self._choice(SINGULAR_DETS)
        if word not in self.mass and self.rng.random() < 0.3:
            word = f'{self._choice(self.adjectives)} {word}'
        if det == 'a' and word[0] in 'aeiou':
            det = 'an'
        return f'{det} {word}'.strip()

    def sample(self) -> Sentence:
        for _ in range(100):
            k = int(self.rng.integers(self.min_classes, self.max_classes + 1))
            names = [self.vocabulary.names[i] for i in self.rng.choice(len(self.vocabulary), k, replace=False)]
            mentions = tuple((n, self._choice(self.words[n])) for n in names)
            phrases = [self._phrase(w) for _, w in mentions]
            objs = phrases[0]
            for i, p in enumerate(phrases[1:], 1):
                objs += (', ' if i < len(phrases) - 1 else self._choice(JOINERS)) + p
            text = self._choice(self.templates).format(objs=objs, scene=self._choice(self.scenes))
            text = re.sub(r'\s+([.,])', r'\1', re.sub(r'\s+', ' ', text)).strip()
            text = text[0].upper() + text[1:] if self.rng.random() < 0.5 else text
            labels = tuple(names)
            if set(self.parser(text)) == set(labels):
                return Sentence(text, labels, mentions)
            self.skipped += 1
        raise RuntimeError(
            f'Could not compose a sentence whose class words parse back to its labels for '
            f'vocabulary {self.vocabulary.source!r}; check the synonyms for overlapping words.'
        )

    def generate(self, num: int, unique: bool = True) -> List[Sentence]:
        out, seen = [], set()
        for _ in range(num * 20):
            s = self.sample()
            if unique and s.text.lower() in seen:
                continue
            seen.add(s.text.lower())
            out.append(s)
            if len(out) == num:
                return out
        raise RuntimeError(f'Only {len(out)} distinct sentences of {num} requested could be made.')


# --- files -------------------------------------------------------------------------------
def write_sentence_file(
    path: str, sentences: Iterable[Union[Sentence, Tuple[str, Sequence[str]]]], header: Optional[str] = None
) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        if header:
            f.writelines(f'# {line}\n' for line in header.splitlines())
        for s in sentences:
            text, labels = (s.text, s.labels) if isinstance(s, Sentence) else s
            if '\t' in text or '\n' in text:
                raise ValueError(f'Sentence {text!r} contains a tab or newline; remove them.')
            bad = [n for n in labels if ',' in n or '\t' in n or not n.strip()]
            if bad:
                raise ValueError(
                    f'Labels {bad} cannot be written: class names in sentence files must be '
                    'non-empty and hold no comma or tab.'
                )
            f.write(f'{text}\t{",".join(labels)}\n')


def load_sentence_file(path: str, vocabulary: VocabularyLike) -> List[Tuple[str, Tuple[int, ...]]]:
    """Read ``sentence<TAB>label1,label2`` lines -> ``[(sentence, class indices)]``.

    ``path`` may also name a shipped corpus (``coco80``, ``voc20``, ``nuswide81``).
    """
    if not osp.isfile(path) and path in SHIPPED_CORPORA:
        path = osp.join(SENTENCE_DIR, f'{path}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Sentence file {path!r} does not exist; give a file of '
            f'"sentence<TAB>label1,label2" lines or one of {sorted(SHIPPED_CORPORA)}.'
        )
    vocab = load_vocabulary(vocabulary)
    index = {n: i for i, n in enumerate(vocab.names)}
    out = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip('\n').rstrip('\r')
            where = f'{path}:{lineno}'
            if not line.strip():
                raise ValueError(
                    f'{where}: empty line. Each line must be "sentence<TAB>label1,label2" '
                    '(comments start with "#"); remove the blank line.'
                )
            if line.startswith('#'):
                continue
            text, tab, labels = line.partition('\t')
            if not tab:
                raise ValueError(
                    f'{where}: no TAB between sentence and labels in {line[:60]!r}; expected '
                    '"sentence<TAB>label1,label2".'
                )
            if not text.strip():
                raise ValueError(f'{where}: the sentence before the TAB is empty.')
            names = [n.strip() for n in labels.split(',') if n.strip()]
            if not names:
                raise ValueError(f'{where}: no labels after the TAB; give at least one class name.')
            unknown = [n for n in names if n not in index]
            if unknown:
                raise ValueError(
                    f'{where}: unknown label(s) {unknown} for vocabulary {vocab.source!r} '
                    f'({len(vocab)} classes, e.g. {list(vocab.names[:4])}). Use the '
                    "vocabulary's class names exactly, or pick the matching vocabulary."
                )
            out.append((text.strip(), tuple(dict.fromkeys(index[n] for n in names))))
    if not out:
        raise ValueError(f'{path!r} holds no sentences.')
    return out


def write_shipped_corpora(directory: str = SENTENCE_DIR) -> Dict[str, str]:
    """(Re)generate the shipped corpora deterministically; returns name -> path."""
    paths = {}
    for name, (_, num, seed) in SHIPPED_CORPORA.items():
        vocab = corpus_vocabulary(name)
        gen = SentenceGenerator(vocab, seed=seed)
        path = osp.join(directory, f'{name}.txt')
        write_sentence_file(
            path,
            gen.generate(num),
            header=(
                f'{name}: {num} multi-label sentences for {len(vocab)} classes ({vocab.source}), made by '
                f'icar_mm.multilabel.sentences.write_shipped_corpora (seed {seed}).\n'
                'Format: sentence<TAB>label1,label2'
            ),
        )
        paths[name] = path
    return paths


__all__ = [
    'SentenceGenerator',
    'Sentence',
    'ClassWordParser',
    'class_words',
    'plural',
    'load_sentence_file',
    'write_sentence_file',
    'write_shipped_corpora',
    'corpus_vocabulary',
    'SHIPPED_CORPORA',
    'VOC_CLASSES',
]
