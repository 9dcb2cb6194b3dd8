"""InMaP: vision proxies learned from unlabeled target features.

Qian, Xu, Hu, "Intra-Modal Proxy Learning for Zero-Shot Visual Categorization
with CLIP", NeurIPS 2023. Text-generated class weights live in the text space;
the features a head classifies live in the vision space. Given unlabeled
target features ``x_i`` (unit rows) and text proxies ``t_c``:

1. pseudo labels ``p_i = softmax(x_i T^T / tau_t)``, optionally balanced over
   classes by Sinkhorn (uniform class prior, or the prior ``mass^gamma``);
   labels whose largest entry exceeds ``alpha`` become one-hot;
2. vision proxies ``W`` (initialised at ``T``) minimise the cross entropy
   ``-1/N sum_i p_i . log softmax(x_i W^T / tau_i)`` by projected gradient
   descent on the unit sphere: step ``lr / (N tau_i)`` on the gradient
   ``X^T softmax(X W^T / tau_i) - X^T P``, rows renormalised, ``lr`` halved
   whenever the gradient norm grows.

The defaults are those of the published implementation (2000 steps, lr 10,
tau_t 0.01, tau_i 0.04, alpha 0.6, 20 Sinkhorn steps, gamma 0).

Unlike a direct transcription, no ``N x C`` matrix is held by the gradient
steps: every product with the features streams over ``chunk_size`` rows and
the pseudo labels are folded into ``X^T P`` once. Sinkhorn keeps only its
``C`` column scales (``P = diag(a) K diag(b)``; the row scales are recomputed
chunk by chunk) and the text softmax ``K`` if it fits ``sinkhorn_cache_mb``
(recomputed per pass otherwise). Memory is ``O(N D + C D + chunk_size C)``
beyond that cache, whatever ``N``.
"""

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..classifier import save_class_weights

__all__ = ['InMaPConfig', 'InMaPResult', 'refine_proxies', 'pseudo_labels', 'write_class_weights']


@dataclass
class InMaPConfig:
    """InMaP hyper-parameters; defaults follow the published implementation.

    Args:
        tau_t: temperature of the pseudo labels from the text proxies.
        tau_i: temperature of the vision-proxy classifier being learned.
        alpha: pseudo labels whose top probability exceeds it become one-hot.
        lr: initial step size (halved whenever the gradient norm grows).
        iters: projected gradient steps.
        sinkhorn: balance the pseudo labels over classes with Sinkhorn.
        sinkhorn_iters: Sinkhorn (column, row) normalisation rounds.
        gamma: class prior of Sinkhorn: 0 is uniform; ``gamma > 0`` uses the
            pseudo-label mass of each class to the power ``gamma``.
        keep_empty_classes: classes that no feature is pseudo-labelled with
            keep their text proxy. Off (as published), nothing pulls such a
            proxy towards the data and it drifts away from it, so the class
            is rarely predicted afterwards (features it attracts push it
            away); a warning names them either way.
        chunk_size: feature rows per ``N x C`` block (bounds memory).
        sinkhorn_cache_mb: Sinkhorn keeps the ``N x C`` text softmax in memory
            when it takes at most this much, instead of recomputing it on
            each of its passes.
    """

    tau_t: float = 0.01
    tau_i: float = 0.04
    alpha: float = 0.6
    lr: float = 10.0
    iters: int = 2000
    sinkhorn: bool = False
    sinkhorn_iters: int = 20
    gamma: float = 0.0
    keep_empty_classes: bool = False
    chunk_size: int = 16384
    sinkhorn_cache_mb: float = 1024

    def __post_init__(self):
        for name in ('tau_t', 'tau_i', 'lr', 'chunk_size'):
            if not getattr(self, name) > 0:
                raise ValueError(f'InMaP {name} must be positive, got {getattr(self, name)!r}.')
        for name in ('iters', 'sinkhorn_iters', 'gamma'):
            if getattr(self, name) < 0:
                raise ValueError(f'InMaP {name} must be >= 0, got {getattr(self, name)!r}.')


@dataclass
class InMaPResult:
    """Vision proxies and what led to them.

    ``proxies``: ``[C, D]`` unit rows, in the text proxies' order.
    ``class_counts``: features whose pseudo label peaks at each class.
    ``empty_classes``: classes with no such feature.
    ``grad_norms``: gradient norm of each step; ``final_lr`` the step size reached.
    """

    proxies: torch.Tensor
    class_counts: torch.Tensor
    empty_classes: List[int]
    grad_norms: torch.Tensor
    final_lr: float
    num_features: int
    config: InMaPConfig = field(default_factory=InMaPConfig)


def _unit_rows(x: torch.Tensor, what: str) -> torch.Tensor:
    norms = x.norm(dim=1)
    if not torch.isfinite(norms).all():
        raise ValueError(f'{what} contain NaN or infinite values; check the model that produced them.')
    if (norms == 0).any():
        raise ValueError(
            f'{int((norms == 0).sum())} of the {len(x)} {what} are zero vectors and have '
            'no direction to classify; drop them first.'
        )
    # unit rows already (the usual case): keep them bit for bit
    if torch.allclose(norms, torch.ones_like(norms), atol=1e-5):
        return x
    return x / norms[:, None]


def _prepare(features, text_proxies):
    if not isinstance(features, torch.Tensor) or not isinstance(text_proxies, torch.Tensor):
        raise TypeError('features and text_proxies must be tensors ([N, D] and [C, D]).')
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(
            f'InMaP needs unlabeled features as an [N, D] tensor with N >= 1; got shape '
            f'{tuple(features.shape)}. Extract features from the target data first '
            '(tools/refine_class_weights.py does it for any icar_mm model).'
        )
    if text_proxies.ndim != 2 or text_proxies.shape[0] == 0:
        raise ValueError(f'text_proxies must be a [C, D] tensor with C >= 1; got shape {tuple(text_proxies.shape)}.')
    if features.shape[1] != text_proxies.shape[1]:
        raise ValueError(
            f'features are {features.shape[1]}-d but the text proxies are '
            f'{text_proxies.shape[1]}-d: features must be taken in the text space, i.e. '
            "after the classifier's projection."
        )
    dtype = features.dtype if features.dtype in (torch.float32, torch.float64) else torch.float32
    x = _unit_rows(features.to(dtype), 'features')
    t = _unit_rows(text_proxies.to(device=x.device, dtype=dtype), 'text proxies')
    return x, t


def _text_softmax(x_chunk, t, tau_t):
    """``K = softmax(x T^T / tau_t)`` for a chunk of rows."""
    return torch.softmax(x_chunk @ t.T / tau_t, dim=1)


def _text_softmax_chunks(x, t, config, cache: Optional[list]):
    """``K`` chunk by chunk; kept in ``cache`` (when given) on the first pass."""
    if cache:
        yield from cache
        return
    for xc in x.split(config.chunk_size):
        k = _text_softmax(xc, t, config.tau_t)
        if cache is not None:
            cache.append(k)
        yield k


def _sinkhorn_column_scales(x, t, config, cache: Optional[list]) -> Optional[torch.Tensor]:
    """Column scales ``b`` of the published Sinkhorn balancing.

    The published loop rescales ``P = K / N`` alternately to column sums
    ``q`` (``1/C``, or the gamma prior) and row sums ``1/N``, then returns
    ``N P``. Written as ``P = diag(a) K diag(b)``, the column step is
    ``b = q / (K^T a)`` and the row step ``a = 1 / (N K b)``; the returned
    labels are ``K_ij b_j / sum_j K_ij b_j``, so only ``b`` is kept and ``a``
    is recomputed chunk by chunk. A class that receives no mass at all keeps
    ``b = 0`` (the published loop would divide 0 by 0 there and turn every
    label into NaN).
    """
    n = len(x)
    tiny = torch.finfo(x.dtype).tiny
    if config.sinkhorn_iters == 0:
        return None

    def column_mass(b):  # K^T a, with a = 1/N (start) or 1/(N K b)
        mass = x.new_zeros(len(t))
        for k in _text_softmax_chunks(x, t, config, cache):
            a = x.new_full((len(k),), 1.0 / n) if b is None else 1.0 / ((k @ b).clamp_min(tiny) * n)
            mass.addmv_(k.T, a)
        return mass

    mass = column_mass(None)
    if config.gamma > 0:
        q = mass**config.gamma
        q /= q.sum()
    else:
        q = torch.full_like(mass, 1.0 / len(t))
    b = None
    for it in range(config.sinkhorn_iters):
        if it:
            mass = column_mass(b)
        b = torch.where(mass > 0, q / mass.clamp_min(tiny), torch.zeros_like(mass))
    return b


def _label_chunks(x, t, config):
    """Pseudo labels chunk by chunk: text softmax, Sinkhorn-balanced with
    ``config.sinkhorn``, confident rows (top > alpha) made one-hot.
    Yields (features, labels, argmax)."""
    # Sinkhorn passes over K ~20 times: keep it when it fits the cache budget
    fits = len(x) * len(t) * x.element_size() <= config.sinkhorn_cache_mb * 2**20
    cache = [] if config.sinkhorn and fits else None
    b = _sinkhorn_column_scales(x, t, config, cache) if config.sinkhorn else None
    for xc, p in zip(x.split(config.chunk_size), _text_softmax_chunks(x, t, config, cache)):
        if b is not None:
            p = p * b
            p /= p.sum(1, keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)
        top, idx = p.max(1)
        confident = top > config.alpha
        if confident.any():
            p[confident] = 0
            p[confident, idx[confident]] = 1
        yield xc, p, idx


def pseudo_labels(
    features: torch.Tensor, text_proxies: torch.Tensor, config: Optional[InMaPConfig] = None, **overrides
) -> torch.Tensor:
    """The ``[N, C]`` pseudo labels InMaP trains on (for inspection; the
    refinement itself never materialises them)."""
    config = replace(config or InMaPConfig(), **overrides)
    x, t = _prepare(features, text_proxies)
    with torch.no_grad():
        return torch.cat([p for _, p, _ in _label_chunks(x, t, config)])


def refine_proxies(
    features: torch.Tensor, text_proxies: torch.Tensor, config: Optional[InMaPConfig] = None, **overrides
) -> InMaPResult:
    """Learn vision proxies from unlabeled ``features`` ``[N, D]`` and text
    proxies ``[C, D]`` (rows are L2-normalised if they are not unit already).

    ``config`` (an :class:`InMaPConfig`) and/or keyword overrides set the
    hyper-parameters, e.g. ``refine_proxies(x, t, sinkhorn=True, iters=500)``.
    Runs on the features' device, in float64 for float64 input and float32
    otherwise.
    """
    config = replace(config or InMaPConfig(), **overrides)
    with torch.no_grad():
        return _refine(*_prepare(features, text_proxies), config)


def _refine(x, t, config) -> InMaPResult:
    n, num_classes = len(x), len(t)
    chunks = x.split(config.chunk_size)

    # 1. pseudo labels, folded into their part of the gradient: X^T P -> [C, D]
    target = torch.zeros_like(t)
    counts = torch.zeros(num_classes, dtype=torch.long, device=x.device)
    for xc, p, idx in _label_chunks(x, t, config):
        target.addmm_(p.T, xc)
        counts += torch.bincount(idx, minlength=num_classes)
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if empty:
        action = (
            'keep their text proxies'
            if config.keep_empty_classes
            else 'get no pull towards the data (keep_empty_classes=True keeps their text proxies)'
        )
        warnings.warn(
            f'InMaP: {len(empty)} of {num_classes} classes are the pseudo label of none of '
            f'the {n} features (class indices {empty[:10]}{"..." if len(empty) > 10 else ""}); '
            f'they {action}.',
            stacklevel=3,
        )
    frozen = (counts == 0) if (config.keep_empty_classes and empty) else None

    # 2. projected gradient descent on the unit sphere
    proxies = t.clone()
    grad = torch.empty_like(t)
    rows = min(config.chunk_size, n)
    logits_buf, prob_buf = x.new_empty(rows, num_classes), x.new_empty(rows, num_classes)
    lr, prev_norm = config.lr, math.inf
    norms = torch.empty(config.iters, dtype=x.dtype)
    for it in range(config.iters):
        scaled = proxies / config.tau_i
        torch.neg(target, out=grad)
        for xc in chunks:
            logits, prob = logits_buf[: len(xc)], prob_buf[: len(xc)]
            torch.mm(xc, scaled.T, out=logits)
            torch.softmax(logits, 1, out=prob)
            grad.addmm_(prob.T, xc)
        if frozen is not None:
            grad[frozen] = 0
        norm = float(grad.norm())
        norms[it] = norm
        if norm > prev_norm:
            lr /= 2.0
        prev_norm = norm
        proxies.add_(grad, alpha=-lr / (n * config.tau_i))
        proxies = F.normalize(proxies, dim=1)
    return InMaPResult(
        proxies=proxies,
        class_counts=counts.cpu(),
        empty_classes=empty,
        grad_norms=norms,
        final_lr=lr,
        num_features=n,
        config=config,
    )


def write_class_weights(
    path: str,
    vocabulary,
    weights: torch.Tensor,
    templates: Sequence[str] = (),
    enriched: bool = True,
    refinement: Optional[dict] = None,
) -> None:
    """Write ``[C, D]`` class weights as a class-weights file (the format
    :meth:`TextCosineClassifier.export_class_weights` writes and
    ``--class-weights`` / ``set_class_weights`` read). ``refinement`` records
    how the weights were obtained (e.g. the InMaP settings)."""
    extra = dict(refinement=refinement) if refinement is not None else {}
    save_class_weights(path, vocabulary, weights, templates, enriched, normalize=True, **extra)
