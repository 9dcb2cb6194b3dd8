"""Vocabularies (class names + enriched descriptions), template sets and prompts.

A vocabulary can be given as
  * a shipped dataset name: ``'coco'``, ``'ade20k_150'``, ``'kinetics400'`` ...
    optionally with a split: ``'coco:ov_base'``, ``'voc:zs_unseen'``;
  * a list of class names (descriptions are looked up in the shipped data by
    name, e.g. for a dataset's ``metainfo['classes']``), or of
    ``(name, description)`` pairs / ``{'name', 'description'}`` dicts;
  * a file: ``.json`` in the shipped format, or ``.txt`` with one class per
    line, ``name`` or ``name: description``.

Descriptions: a user's own win, then the shipped ones (by exact name), then
WordNet 3.0 glosses (:mod:`icar_mm.text.descriptions`); a class with none of
these has no description and its enriched prompts are plain prompts (one
warning per vocabulary lists such classes). ``enriched='strict'`` instead
requires a shipped or user description for every class.
"""

import functools
import hashlib
import json
import os.path as osp
from dataclasses import dataclass, field
from glob import glob
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .descriptions import wordnet_description

VOCAB_DIR = osp.join(osp.dirname(osp.dirname(__file__)), 'vocab')


def _openai_imagenet_templates() -> Tuple[str, ...]:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(t('{}') for t in OPENAI_IMAGENET_TEMPLATES)


# ViLD's 14 detection prompts (as used by Detic, BARON and their followers).
VILD_TEMPLATES = (
    'a photo of a {}.',
    'This is a photo of a {}',
    'There is a {} in the scene',
    'There is the {} in the scene',
    'a photo of a {} in the scene',
    'a photo of a small {}.',
    'a photo of a medium {}.',
    'a photo of a large {}.',
    'This is a photo of a small {}.',
    'This is a photo of a medium {}.',
    'This is a photo of a large {}.',
    'There is a small {} in the scene.',
    'There is a medium {} in the scene.',
    'There is a large {} in the scene.',
)

# 4 media x 7 phrasings = 28 video prompts, as in the iCAR video code.
VIDEO_TEMPLATES = tuple(
    f'a {medium} of {phrase}{{}}.'
    for medium in ('photo', 'video', 'example', 'demonstration')
    for phrase in (
        '',
        'a person ',
        'a person using ',
        'a person doing ',
        'a person during ',
        'a person performing ',
        'a person practicing ',
    )
)

_TEMPLATE_SETS = {
    'single': lambda: ('a photo of a {}.',),
    'video_single': lambda: ('a video of a person {}.',),
    'imagenet80': _openai_imagenet_templates,
    'vild14': lambda: VILD_TEMPLATES,
    'video28': lambda: VIDEO_TEMPLATES,
}


def get_templates(templates: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """Resolve a template-set name (``imagenet80``, ``vild14``, ``video28``,
    ``single``, ``video_single``) or a list of ``'...{}...'`` strings."""
    if isinstance(templates, str):
        if templates not in _TEMPLATE_SETS:
            raise ValueError(
                f'Unknown template set {templates!r}; known sets: '
                f'{sorted(_TEMPLATE_SETS)}, or pass a list of strings with "{{}}".'
            )
        return tuple(_TEMPLATE_SETS[templates]())
    templates = tuple(templates)
    if not templates:
        raise ValueError('The template list is empty; give at least one template such as "a photo of a {}."')
    bad = [t for t in templates if not isinstance(t, str) or t.count('{}') != 1]
    if bad:
        raise ValueError(f'Each template must be a string with exactly one "{{}}" for the class; got {bad[:3]}')
    return templates


def fill_template(template: str, text: str, description: Optional[str] = None) -> str:
    """Plain prompt ``template.format(text)``; enriched prompt appends the
    class description to it, iCAR style: "a photo of a sheep, a woolly ..."."""
    prompt = template.format(text)
    if description:
        prompt = f'{prompt.rstrip(" .")}, {description}'
    return prompt


# Where a class description came from: the shipped vocabularies, the user
# (pairs, dicts, "name: description" lines), WordNet glosses, or nowhere.
ORIGINS = ('shipped', 'user', 'wordnet', 'none')


def _check_enriched(enriched) -> Union[bool, str]:
    if isinstance(enriched, str) and enriched == 'strict':
        return enriched
    if not isinstance(enriched, str) and enriched in (True, False):
        return bool(enriched)
    raise ValueError(
        f"enriched must be True (descriptions where known), 'strict' (a shipped or "
        f'user description for every class) or False (plain prompts); got {enriched!r}'
    )


@dataclass(frozen=True)
class Vocabulary:
    """An ordered, immutable list of classes with prompt texts and descriptions.

    ``origins[i]`` says where ``descriptions[i]`` came from (one of
    :data:`ORIGINS`); by default ``'user'`` for a description, ``'none'`` for None.
    """

    names: Tuple[str, ...]
    texts: Tuple[str, ...]
    descriptions: Tuple[Optional[str], ...]
    splits: Dict[str, Tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    source: str = field(default='', compare=False)
    origins: Tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        _check_names(self.names, self.source)
        if not len(self.names) == len(self.texts) == len(self.descriptions):
            raise ValueError('names, texts and descriptions must have the same length')
        origins = tuple(self.origins) or tuple('user' if d else 'none' for d in self.descriptions)
        object.__setattr__(self, 'origins', origins)
        if len(origins) != len(self.names) or any(
            o not in ORIGINS or (o == 'none') != (not d) for o, d in zip(origins, self.descriptions)
        ):
            raise ValueError(
                f'origins must give one of {ORIGINS} per class, "none" exactly for the '
                f'classes without a description; got {origins[:5]}'
            )

    def __len__(self):
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Changes whenever any name, prompt text or description changes
        (origins do not enter: the same text gives the same embedding)."""
        blob = json.dumps([self.names, self.texts, self.descriptions])
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def split(self, name: str) -> 'Vocabulary':
        if name not in self.splits:
            raise KeyError(
                f'Vocabulary {self.source!r} has no split {name!r}; known splits: {sorted(self.splits) or "none"}'
            )
        return self.subset(self.splits[name], source=f'{self.source}:{name}')

    def subset(self, names: Sequence[str], source: Optional[str] = None) -> 'Vocabulary':
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise KeyError(f'Classes {missing[:5]} are not in vocabulary {self.source!r}')
        idx = [index[n] for n in names]
        return Vocabulary(
            tuple(self.names[i] for i in idx),
            tuple(self.texts[i] for i in idx),
            tuple(self.descriptions[i] for i in idx),
            {},
            source or self.source,
            tuple(self.origins[i] for i in idx),
        )

    def prompts(self, templates: Sequence[str], enriched: Union[bool, str] = True) -> List[List[str]]:
        """``[num_classes][num_templates]`` prompt strings.

        ``enriched``: True appends each class's description where it has one
        (plain prompt otherwise, with one warning for this vocabulary);
        ``'strict'`` requires a shipped or user description for every class
        (WordNet glosses do not count); False gives plain prompts.
        """
        enriched = _check_enriched(enriched)
        if enriched == 'strict':
            missing = [n for n, o in zip(self.names, self.origins) if o not in ('shipped', 'user')]
            if missing:
                raise ValueError(
                    f'Enriched prompts need a description for every class, but {len(missing)} of '
                    f"{len(self)} classes in {self.source!r} have none (enriched='strict' counts "
                    f'only shipped or user descriptions): {missing[:5]}. Give them descriptions (a '
                    'vocabulary file with "name: description" lines, or (name, description) pairs), '
                    'use enriched=True to describe them from WordNet where it can, or use plain '
                    'prompts (enriched=False).'
                )
        elif enriched:
            self._warn_undescribed()
        return [
            [fill_template(t, text, desc if enriched else None) for t in templates]
            for text, desc in zip(self.texts, self.descriptions)
        ]

    def _warn_undescribed(self) -> None:
        # once per Vocabulary object, i.e. per load: prompts are rebuilt every training step
        if self.__dict__.get('_warned_undescribed'):
            return
        object.__setattr__(self, '_warned_undescribed', True)
        missing = [n for n, o in zip(self.names, self.origins) if o == 'none']
        if missing:
            from mmengine.logging import MMLogger

            shown = ', '.join(repr(n) for n in missing[:20]) + (
                f' and {len(missing) - 20} more' if len(missing) > 20 else ''
            )
            MMLogger.get_current_instance().warning(
                f'{len(missing)} of {len(self)} classes in vocabulary {self.source!r} have no description '
                f'(none given, none shipped, no WordNet entry): {shown}. Their enriched prompts are plain '
                'prompts. Give descriptions ("name: description" lines or (name, description) pairs) '
                "to enrich them, or enriched='strict' to make this an error."
            )

    def to_dict(self) -> dict:
        return dict(
            source=self.source,
            classes=[
                dict(name=n, text=t, description=d, origin=o)
                for n, t, d, o in zip(self.names, self.texts, self.descriptions, self.origins)
            ],
        )


def _check_names(names, source):
    where = f' (vocabulary {source!r})' if source else ''
    if len(names) == 0:
        raise ValueError(f'Empty vocabulary{where}: expected at least one class name.')
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise TypeError(f'Class names must be non-empty strings{where}; found {bad[:5]}.')
    seen, dups = set(), []
    for n in names:
        if n in seen and n not in dups:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ValueError(
            f'Duplicated class names{where}: {dups[:5]}. Each class must appear once; '
            'merge the duplicates or give them distinct names.'
        )


def shipped_vocabularies() -> List[str]:
    return sorted(osp.splitext(osp.basename(p))[0] for p in glob(osp.join(VOCAB_DIR, '*.json')))


@functools.lru_cache(maxsize=None)
def _load_shipped(name: str) -> Vocabulary:
    path = osp.join(VOCAB_DIR, f'{name}.json')
    if not osp.isfile(path):
        raise KeyError(
            f'Unknown vocabulary {name!r}; shipped vocabularies: '
            f'{shipped_vocabularies()}. Or pass a list of class names or a file path.'
        )
    return _from_json(path, name, lookup=False, given='shipped')


def _from_json(path: str, default_source: str, lookup: bool = True, given: str = 'user') -> Vocabulary:
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    classes = data['classes'] if isinstance(data, dict) else data
    vocab = _from_entries(
        classes, data.get('name', default_source) if isinstance(data, dict) else default_source, lookup, given
    )
    splits = {k: tuple(v) for k, v in (data.get('splits', {}) if isinstance(data, dict) else {}).items()}
    return Vocabulary(vocab.names, vocab.texts, vocab.descriptions, splits, vocab.source, vocab.origins)


@functools.lru_cache(maxsize=1)
def _description_index() -> Dict[str, Tuple[str, str]]:
    """name -> (prompt text, description) over all shipped vocabularies."""
    index = {}
    for name in shipped_vocabularies():
        v = _load_shipped(name)
        for n, t, d in zip(v.names, v.texts, v.descriptions):
            index.setdefault(n, (t, d))
    return index


def _readable(name: str) -> str:
    return name.replace('_', ' ')


def _from_entries(entries, source: str, lookup: bool = True, given: str = 'user') -> Vocabulary:
    """``lookup``: fill missing prompt texts / descriptions from the shipped
    vocabularies, then descriptions from WordNet. ``given``: the origin of
    descriptions in ``entries`` (a dict's own ``origin``, as :meth:`Vocabulary.to_dict`
    writes it, is kept, so a reloaded vocabulary is not described anew)."""
    names, texts, descs, origins = [], [], [], []
    index = None
    for e in entries:
        origin = None
        if isinstance(e, dict):
            if 'name' not in e:
                raise ValueError(f'Vocabulary entry {e!r} has no "name" ({source!r}).')
            name, text, desc = e['name'], e.get('text'), e.get('description')
            if e.get('origin') in ORIGINS and (e['origin'] == 'none') == (not desc):
                origin = e['origin']
        elif isinstance(e, (list, tuple)) and len(e) == 2:
            (name, desc), text = e, None
        else:
            name, text, desc = e, None, None
        if desc and origin is None:
            origin = given
        if lookup and isinstance(name, str) and (text is None or origin is None):
            index = index if index is not None else _description_index()
            known_text, known_desc = index.get(name, (None, None))
            text = text or known_text
            if origin is None and known_desc:
                desc, origin = known_desc, 'shipped'
        text = text or (_readable(name) if isinstance(name, str) else name)
        if lookup and origin is None and isinstance(text, str):
            desc = wordnet_description(text)
            origin = 'wordnet' if desc else None
        names.append(name)
        texts.append(text)
        descs.append(desc or None)
        origins.append(origin or 'none')
    return Vocabulary(tuple(names), tuple(texts), tuple(descs), {}, source, tuple(origins))


def _from_txt(path: str) -> Vocabulary:
    entries = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            name, sep, desc = line.partition(': ')
            entries.append((name.strip(), desc.strip()) if sep else name)
    return _from_entries(entries, path)


VocabularyLike = Union[str, Sequence, Vocabulary]


def load_vocabulary(spec: VocabularyLike) -> Vocabulary:
    """Resolve any vocabulary spec (see module docstring) to a :class:`Vocabulary`."""
    if isinstance(spec, Vocabulary):
        return spec
    if isinstance(spec, str):
        if osp.isfile(spec):
            return _from_json(spec, spec) if spec.endswith('.json') else _from_txt(spec)
        name, _, split = spec.partition(':')
        if osp.sep in spec or name.endswith(('.txt', '.json')):
            raise FileNotFoundError(f'Vocabulary file {spec!r} does not exist.')
        vocab = _load_shipped(name)
        return vocab.split(split) if split else vocab
    if spec is None:
        raise ValueError('No vocabulary given: expected a dataset name, a list of class names or a file.')
    return _from_entries(list(spec), 'custom')
