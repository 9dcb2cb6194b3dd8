"""Build the WordNet 3.0 gloss table that describes classes with no shipped description.

Reads the Princeton WordNet 3.0 database files (``index.noun``, ``data.noun``,
``index.verb``, ``data.verb``; Debian: ``apt-get install wordnet-base``, files
in ``/usr/share/wordnet``) and writes ``icar_mm/vocab/wordnet_glosses.tsv.gz``:

    # header lines (source, licence)
    <key>\t<pos>\t<gloss>

one line per lemma: ``key`` is the lemma lower-cased with ``_`` and ``-`` as
spaces (the look-up normalises class names the same way), ``pos`` is ``n`` or
``v``, ``gloss`` the gloss of the lemma's first sense (WordNet lists senses by
frequency) cut at the first ``;`` (the rest is mostly usage examples), with a
final full stop. Proper-noun senses are passed over when the lemma has a
common one: the index is lower case, so "crane" would otherwise be the writer
Stephen Crane. A lemma that is both a noun and a verb keeps its noun gloss:
class names are mostly things. The table is written byte-for-byte
reproducibly (gzip without a timestamp).

    python tools/dataset_converters/wordnet_glosses.py [--wordnet-dir /usr/share/wordnet]
"""

import argparse
import gzip
import importlib.util
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OUT = osp.join(ROOT, 'icar_mm', 'vocab', 'wordnet_glosses.tsv.gz')
HEADER = (
    '# Glosses of the first noun (else verb) sense of each lemma of WordNet 3.0,\n'
    '# built by tools/dataset_converters/wordnet_glosses.py.\n'
    '# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.\n'
    '# Used under the WordNet 3.0 licence; see WORDNET_LICENSE.txt next to this file.\n'
)


def _look_up_module():
    """icar_mm/text/descriptions.py on its own (standard library only), so that
    the table's keys are normalised exactly as the look-up normalises names,
    without importing torch and the OpenMMLab stack."""
    spec = importlib.util.spec_from_file_location(
        'icar_descriptions', osp.join(ROOT, 'icar_mm', 'text', 'descriptions.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


normalise = _look_up_module().normalise


def read_synsets(data_path: str) -> dict:
    """synset offset -> (gloss cut at the first ';', its words as spelled)."""
    synsets = {}
    with open(data_path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('  '):  # licence header
                continue
            head, _, gloss = line.partition(' | ')
            # offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] ...
            fields = head.split(' ')
            words = set(fields[4 : 4 + 2 * int(fields[3], 16) : 2])
            gloss = gloss.strip().split(';')[0].strip().rstrip('.').strip()
            if gloss:
                synsets[fields[0]] = (gloss + '.', words)
    return synsets


def senses(index_path: str) -> dict:
    """lemma -> offsets of its synsets, most frequent first."""
    senses = {}
    with open(index_path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('  '):
                continue
            fields = line.split()
            # lemma pos synset_cnt p_cnt [ptr_symbol]*p_cnt sense_cnt tagsense_cnt offset*synset_cnt
            lemma, synset_cnt, p_cnt = fields[0], int(fields[2]), int(fields[3])
            offsets = fields[4 + p_cnt + 2 :]
            assert len(offsets) == synset_cnt, line
            senses[lemma] = offsets
    return senses


def build(wordnet_dir: str) -> dict:
    table = {}
    for pos, suffix in (('n', 'noun'), ('v', 'verb')):
        synsets = read_synsets(osp.join(wordnet_dir, f'data.{suffix}'))
        for lemma, offsets in sorted(senses(osp.join(wordnet_dir, f'index.{suffix}')).items()):
            key = normalise(lemma)
            # nouns first; lemmas that normalise alike ('t-shirt', 't_shirt') share a key
            if not key or key in table:
                continue
            offsets = [o for o in offsets if o in synsets]
            common = [o for o in offsets if lemma in synsets[o][1]]  # spelled in lower case there
            if offsets:
                table[key] = (pos, synsets[(common or offsets)[0]][0])
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--wordnet-dir',
        default='/usr/share/wordnet',
        help='directory with index.noun, data.noun, index.verb, data.verb',
    )
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args()
    table = build(args.wordnet_dir)
    lines = [f'{key}\t{pos}\t{gloss}\n' for key, (pos, gloss) in sorted(table.items())]
    assert not any(line.count('\t') != 2 for line in lines)
    with open(args.out, 'wb') as raw, gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write((HEADER + ''.join(lines)).encode('utf-8'))
    nouns = sum(pos == 'n' for pos, _ in table.values())
    print(
        f'{args.out}: {len(table)} lemmas ({nouns} nouns, {len(table) - nouns} verbs), '
        f'{os.path.getsize(args.out) / 2**20:.2f} MiB'
    )


if __name__ == '__main__':
    main()
