"""Offline stand-ins for downloaded files, for tests and benchmarks: nothing
here touches the network."""

import os
from typing import Iterable

# roberta-base's config.json (the iCAR text tower), less the tokenizer it names
ROBERTA_BASE = dict(
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    type_vocab_size=1,
)


def write_roberta_dir(path: str, corpus: Iterable[str], tokens: int = 400, **config) -> str:
    """A local RoBERTa model directory as ``from_pretrained`` reads it, at random
    init: a byte-level BPE tokenizer of ``tokens`` entries trained on ``corpus``
    with ``tokenizers`` (``vocab.json`` and ``merges.txt``, the files roberta-base
    ships) and ``config.json`` of the architecture ``config`` gives (e.g.
    ``ROBERTA_BASE``; ``vocab_size`` defaults to the tokenizer's)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(corpus), vocab_size=tokens, min_frequency=1, special_tokens=['<s>', '<pad>', '</s>', '<unk>', '<mask>']
    )
    os.makedirs(path, exist_ok=True)
    bpe.save_model(path)
    config.setdefault('vocab_size', bpe.get_vocab_size())
    RobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, **config).save_pretrained(path)
    return path
