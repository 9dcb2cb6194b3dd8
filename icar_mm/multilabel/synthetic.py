"""A synthetic joint space for multi-label zero-shot benchmarks and tests.

Stands in for an aligned vision-language model, with its assumptions explicit:

* each class has a concept vector ``u_c``; for the shapes world classes share
  colour and shape parts (``u = norm(colour + shape + own * e)``), so classes
  that share a word are close, as real classes sharing context are;
* an **image** with objects ``S`` (scenes from
  :func:`icar_mm.datasets.synthetic.render_scene`, 1-3 objects) embeds at
  ``norm(norm(mean_{c in S} u_c) + gap * g + noise)``: the modality gap ``g`` is one
  fixed direction;
* a **sentence** mentioning ``S`` embeds likewise with another fixed direction (text style);
* a **text label** (one prompt per class) embeds at ``norm(u_c + label_noise * e_c)``:
  a single short prompt is an imperfect, class-specific proxy of how the class
  looks in scenes (``label_noise=0`` makes it exact).

Pseudo visual prompts only see sentences; their gain over plain text labels
grows with ``label_noise`` and vanishes at 0. The class text embeddings are
written as an icar_mm class-weights file, so the real
:class:`~icar_mm.multilabel.PVPMultiLabelClassifier` runs on them unchanged.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..classifier import save_class_weights
from ..datasets.synthetic import ALL_CLASSES, render_scene
from ..evaluation.multilabel import multilabel_metrics


def scene_objects(
    num_images: int, seed: int = 0, classes: Sequence[str] = ALL_CLASSES, max_objects: int = 3, size: int = 64
) -> List[List[str]]:
    """Class names of the objects in ``num_images`` rendered shapes-world scenes."""
    rng = np.random.default_rng(seed)
    return [[o['name'] for o in render_scene(rng, size, list(classes), max_objects)[1]] for _ in range(num_images)]


@dataclass
class JointSpace:
    """Concept, label, sentence and image embeddings of one synthetic world."""

    classes: Sequence[str]
    dim: int = 64
    label_noise: float = 1.0
    gap: float = 0.5
    noise: float = 0.6
    own: float = 0.5
    seed: int = 0

    def __post_init__(self):
        g = torch.Generator().manual_seed(self.seed)
        C, D = len(self.classes), self.dim
        rand = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
        parts = [c.split(' ') for c in self.classes]
        if all(len(p) == 2 for p in parts):  # colour-shape classes: shared parts
            words = sorted({w for p in parts for w in p})
            word_vec = dict(zip(words, F.normalize(rand(len(words), D), dim=-1)))
            own = F.normalize(rand(C, D), dim=-1)
            self.concepts = F.normalize(
                torch.stack([word_vec[a] + word_vec[b] for a, b in parts]) + self.own * own, dim=-1
            )
        else:
            self.concepts = F.normalize(rand(C, D), dim=-1)
        self.labels = F.normalize(self.concepts + self.label_noise * F.normalize(rand(C, D), dim=-1), dim=-1)
        self.gap_direction = F.normalize(rand(D), dim=0)
        self.style_direction = F.normalize(rand(D), dim=0)
        self._g = g
        self.index = {n: i for i, n in enumerate(self.classes)}

    def targets(self, label_sets: Sequence[Sequence[str]]) -> torch.Tensor:
        y = torch.zeros(len(label_sets), len(self.classes))
        for i, names in enumerate(label_sets):
            y[i, [self.index[n] for n in names]] = 1
        return y

    def _embed(self, label_sets, offset: torch.Tensor, magnitude: float) -> torch.Tensor:
        y = self.targets(label_sets)
        mean = (y @ self.concepts) / y.sum(1, keepdim=True).clamp(min=1)
        noise = self.noise * F.normalize(torch.randn(mean.shape, generator=self._g), dim=-1)
        return F.normalize(F.normalize(mean, dim=-1) + magnitude * offset + noise, dim=-1)

    def images(self, label_sets) -> torch.Tensor:
        return self._embed(label_sets, self.gap_direction, self.gap)

    def sentences(self, label_sets) -> torch.Tensor:
        return self._embed(label_sets, self.style_direction, self.gap)

    def write_class_weights(self, path: str) -> str:
        """The text labels as a class-weights file (what a text encoder would give)."""
        save_class_weights(path, list(self.classes), self.labels, templates=['{}'], enriched=False)
        return path


def fit_on_embeddings(
    model,
    embeddings: torch.Tensor,
    targets: torch.Tensor,
    iters: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
) -> List[float]:
    """Train prompts and label adapter on sentence embeddings in-process (the
    Runner does the same from a SentenceDataset); returns the loss curve."""
    g = torch.Generator().manual_seed(seed)
    if not bool(model.prompts_ready):
        model.init_prompts()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters, eta_min=lr * 0.01)
    model.train()
    curve = []
    for _ in range(iters):
        idx = torch.randint(len(embeddings), (batch_size,), generator=g)
        loss = sum(model.embedding_losses(embeddings[idx], targets[idx]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append(loss.item())
    model.eval()
    return curve


@torch.no_grad()
def zero_shot_map(model, features: torch.Tensor, targets: torch.Tensor, weights: Optional[dict] = None) -> float:
    """mAP of the model's mixed logits on image features (``weights``: score_weights override)."""
    saved = dict(model.score_weights)
    if weights is not None:
        model.score_weights = {k: float(weights.get(k, 0.0)) for k in saved}
    try:
        logits = model.mix(model.score_terms(dict(frozen=features)))
    finally:
        model.score_weights = saved
    return float(multilabel_metrics(logits.numpy(), targets.numpy())['mAP'])


__all__ = ['JointSpace', 'scene_objects', 'fit_on_embeddings', 'zero_shot_map']
