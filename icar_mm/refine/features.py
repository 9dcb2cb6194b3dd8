"""The features a text-generated head classifies, collected from any model.

A forward hook on each :class:`~icar_mm.classifier.TextCosineClassifier`
captures its input, projected to the text space and L2-normalised, exactly as
the classifier compares it with the class weights: region features of the
proposals for a detector, per-pixel features for segmentation, clip features
for action recognition. Whatever the task, a uniform sample of at most
``max_features`` of them is kept (bottom-k of seeded random keys: uniform
over the whole stream, deterministic, memory bounded by ``2 * max_features``
rows whatever the data size).
"""

from contextlib import contextmanager
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..classifier import TextCosineClassifier


class FeatureSample:
    """Uniform sample without replacement of at most ``capacity`` rows of a stream."""

    def __init__(self, capacity: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f'max_features must be at least 1, got {capacity}.')
        self.capacity = capacity
        self.generator = torch.Generator().manual_seed(seed)
        self._keys: List[torch.Tensor] = []
        self._rows: List[torch.Tensor] = []
        self._size = 0
        self.seen = 0

    def add(self, rows: torch.Tensor) -> None:
        if not len(rows):
            return
        self._keys.append(torch.rand(len(rows), generator=self.generator))
        self._rows.append(rows)
        self._size += len(rows)
        self.seen += len(rows)
        if self._size > 2 * self.capacity:
            self._shrink()

    def _shrink(self) -> None:
        keys, rows = torch.cat(self._keys), torch.cat(self._rows)
        if len(keys) > self.capacity:
            # the smallest keys; kept in stream order so the result does not depend on when we shrink
            keep = keys.topk(self.capacity, largest=False).indices.sort().values
            keys, rows = keys[keep], rows[keep]
        self._keys, self._rows, self._size = [keys], [rows], len(keys)

    def result(self) -> Optional[torch.Tensor]:
        if not self._rows:
            return None
        self._shrink()
        return self._rows[0]


def classifier_features(classifier: TextCosineClassifier, inputs: torch.Tensor) -> torch.Tensor:
    """``[..., in_channels]`` -> ``[M, D]`` unit features in the text space."""
    x = inputs.reshape(-1, inputs.shape[-1])
    if classifier.projection is not None:
        x = classifier.projection(x)
    return F.normalize(x.float(), dim=-1)


@contextmanager
def capture_features(classifiers: Sequence[TextCosineClassifier], sample: FeatureSample, skip_background: bool = True):
    """While active, every forward of ``classifiers`` adds its features to
    ``sample``. With ``skip_background``, features the classifier itself
    assigns to its background logit are left out (for a detector most proposals
    are background; they are evidence for no class). Yields a dict of counts."""
    counts = dict(seen=0, background=0)

    def hook(module, args, kwargs, output):
        feats = classifier_features(module, args[0] if args else kwargs['features'])
        counts['seen'] += len(feats)
        if skip_background and module.background is not None:
            foreground = output.reshape(-1, output.shape[-1]).argmax(-1) < output.shape[-1] - 1
            counts['background'] += int((~foreground).sum())
            feats = feats[foreground]
        sample.add(feats.cpu())

    handles = [c.register_forward_hook(hook, with_kwargs=True) for c in classifiers]
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()


def shared_text_proxies(named: Sequence[Tuple[str, TextCosineClassifier]]) -> torch.Tensor:
    """The test-time class weights ``[C, D]`` the classifiers share; refusing
    classifiers that disagree (one refined file serves all of them)."""
    proxies = None
    for name, clf in named:
        was_training = clf.training
        clf.eval()
        try:
            with torch.no_grad():
                emb = clf.class_embeddings().float()
        finally:
            clf.train(was_training)
        if proxies is None:
            proxies, first = emb, name
        elif emb.shape != proxies.shape or not torch.allclose(emb.to(proxies), proxies, atol=1e-5):
            raise ValueError(
                f'Classifiers {first!r} and {name!r} have different class weights (other '
                'vocabulary, templates or text encoder), so one refined file cannot serve '
                'both; pick one with --classifier NAME.'
            )
    return proxies
