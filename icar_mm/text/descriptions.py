"""Automatic class descriptions from WordNet 3.0 glosses, offline.

iCAR's pre-training classes are WordNet synsets, described by their glosses;
a class with no shipped and no user description gets the same kind of text
from ``icar_mm/vocab/wordnet_glosses.tsv.gz`` (built from the WordNet 3.0
database by ``tools/dataset_converters/wordnet_glosses.py``; licence in
``icar_mm/vocab/WORDNET_LICENSE.txt``). Each lemma maps to the gloss of its
first sense (WordNet orders senses by frequency), nouns before verbs, cut at
the first ``;``.

Look-up of a class name, first hit wins:
  1. the name normalised: lower case, ``_``/``-``/runs of spaces as one space;
  2. the same without a plural ending: ``-s``, ``-ies`` -> ``-y``, ``-es``;
  3. a multi-word name (not a phrase with a preposition or conjunction, no
     ``-ing`` word before its last, so not an action such as "playing
     guitar"): its longest trailing part that is a noun, as
     ``"a kind of <head>: <gloss>"`` ("grey wall" -> "a kind of wall: an
     architectural partition ...").
Otherwise there is no description.

Only the standard library is used: the table builder loads this file on its own.
"""

import functools
import gzip
import os.path as osp
import re
from typing import Dict, Optional, Tuple

GLOSS_TABLE = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'vocab', 'wordnet_glosses.tsv.gz')

# In "cup of tea" or "man on a horse" the last word is not the head.
_PHRASE_WORDS = frozenset('a an the of on in with and or at for from by to into onto under over near without'.split())


def normalise(name: str) -> str:
    """The key of the gloss table: lower case, ``_``/``-``/whitespace runs as one space."""
    return ' '.join(w for w in re.split(r'[\s_\-]+', name.lower()) if w)


@functools.lru_cache(maxsize=1)
def gloss_table() -> Dict[str, str]:
    """normalised lemma -> ``'<pos>\\t<gloss>'``; read on first use, then cached."""
    with gzip.open(GLOSS_TABLE, 'rb') as f:
        text = f.read().decode('utf-8')
    return dict(line.split('\t', 1) for line in text.splitlines() if line and not line.startswith('#'))


def _singulars(key: str):
    yield key
    if key.endswith('s') and len(key) > 3:
        yield key[:-1]
        if key.endswith('ies'):
            yield key[:-3] + 'y'
        if key.endswith('es'):
            yield key[:-2]


def _find(key: str, table: Dict[str, str], noun: bool = False) -> Optional[Tuple[str, str]]:
    """(lemma, gloss) for ``key`` or its singular."""
    for k in _singulars(key):
        entry = table.get(k)
        if entry is not None and (not noun or entry.startswith('n\t')):
            return k, entry[2:]
    return None


def wordnet_description(name: str) -> Optional[str]:
    """The WordNet description of a class name, or None (see the module docstring)."""
    key = normalise(name)
    if not key:
        return None
    table = gloss_table()
    hit = _find(key, table)
    if hit:
        return hit[1]
    words = key.split(' ')
    if len(words) > 1 and not _PHRASE_WORDS.intersection(words) and not any(w.endswith('ing') for w in words[:-1]):
        for i in range(1, len(words)):
            hit = _find(' '.join(words[i:]), table, noun=True)
            if hit:
                return f'a kind of {hit[0]}: {hit[1]}'
    return None
