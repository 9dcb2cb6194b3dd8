"""Multi-label classification metrics: mAP, per-class AP, CF1 / OF1.

Targets are per-class values 1 (present), 0 (absent) or -1 (ignored, e.g.
VOC's "difficult" objects); ignored entries take no part in any number.
AP is the non-interpolated average precision (mean of the precision at the
rank of each positive, ties broken by input order), as in the multi-label
literature; mAP averages it over classes with at least one positive.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from ..registry import METRICS


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class; ``targets`` in {1, 0, -1}. NaN when it has no positive."""
    keep = targets >= 0
    scores, targets = scores[keep], targets[keep]
    if not (targets == 1).any():
        return float('nan')
    order = np.argsort(-scores, kind='stable')
    hits = targets[order] == 1
    precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    return float(precision_at_hit.mean())


def multilabel_metrics(
    scores: np.ndarray, targets: np.ndarray, thr: Optional[float] = 0.5, topk: Optional[int] = None
) -> Dict[str, np.ndarray]:
    """``scores``/``targets`` ``[N, C]`` -> per-class AP and CP/CR/CF1, OP/OR/OF1 (in %).

    Predicted positives: ``scores >= thr``, or the ``topk`` highest scores per sample.
    """
    scores, targets = np.asarray(scores, np.float64), np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f'scores {scores.shape} and targets {targets.shape} must both be [N, C].')
    ap = np.array([average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])])
    if topk is not None:
        pred = np.zeros_like(scores, dtype=bool)
        np.put_along_axis(pred, np.argsort(-scores, axis=1, kind='stable')[:, :topk], True, axis=1)
    else:
        pred = scores >= thr
    valid = targets >= 0
    pos = (targets == 1) & valid
    pred = pred & valid
    tp = (pred & pos).sum(0).astype(np.float64)
    n_pred, n_pos = pred.sum(0), pos.sum(0)
    per_p = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    per_r = np.divide(tp, n_pos, out=np.zeros_like(tp), where=n_pos > 0)
    has_pos = n_pos > 0
    cp, cr = per_p[has_pos].mean() if has_pos.any() else 0.0, per_r[has_pos].mean() if has_pos.any() else 0.0
    op = tp.sum() / max(n_pred.sum(), 1)
    orr = tp.sum() / max(n_pos.sum(), 1)
    f1 = lambda p, r: 2 * p * r / (p + r) if p + r > 0 else 0.0  # noqa: E731
    return dict(
        ap=ap * 100,
        mAP=np.nanmean(ap) * 100 if has_pos.any() else float('nan'),
        CP=cp * 100,
        CR=cr * 100,
        CF1=f1(cp, cr) * 100,
        OP=op * 100,
        OR=orr * 100,
        OF1=f1(op, orr) * 100,
    )


@METRICS.register_module()
class MultiLabelMetric(BaseMetric):
    """mAP, per-class AP and CF1/OF1 of multi-label predictions.

    Reads ``pred_score`` (``[C]``, probabilities when ``thr`` is used) and
    ``gt_label`` (``[C]`` in {1, 0, -1}) from each data sample.

    Args:
        thr: score threshold for the F1 numbers (on ``pred_score``).
        topk: use the top-k classes per image instead of ``thr``.
        classwise: also report each class's AP (``AP/<class>``).
    """

    default_prefix = 'multi-label'

    def __init__(
        self,
        thr: Optional[float] = 0.5,
        topk: Optional[int] = None,
        classwise: bool = False,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if (thr is None) == (topk is None):
            raise ValueError('MultiLabelMetric needs exactly one of thr (score threshold) or topk.')
        self.thr, self.topk, self.classwise = thr, topk, classwise

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            get = sample.get if isinstance(sample, dict) else lambda k: getattr(sample, k, None)
            score, label = get('pred_score'), get('gt_label')
            if score is None or label is None:
                raise KeyError(
                    'MultiLabelMetric needs pred_score and gt_label in every data sample; '
                    f'got {sorted(sample.keys()) if hasattr(sample, "keys") else type(sample)}.'
                )
            self.results.append((torch.as_tensor(score).float().cpu().numpy(), torch.as_tensor(label).cpu().numpy()))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        scores = np.stack([r[0] for r in results])
        targets = np.stack([r[1] for r in results])
        m = multilabel_metrics(scores, targets, self.thr, self.topk)
        out = {k: float(v) for k, v in m.items() if k != 'ap'}
        if self.classwise:
            classes = (self.dataset_meta or {}).get('classes') or [str(i) for i in range(scores.shape[1])]
            out.update({f'AP/{c}': float(a) for c, a in zip(classes, m['ap'])})
        return out


__all__ = ['MultiLabelMetric', 'average_precision', 'multilabel_metrics']
