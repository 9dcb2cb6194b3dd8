"""Open-vocabulary semantic segmentation metric: mmseg's ``IoUMetric`` plus
mIoU over seen and unseen classes and their harmonic mean (hIoU)."""

from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import print_log
from mmseg.evaluation import IoUMetric

from ..registry import METRICS
from ..text.vocabulary import VocabularyLike, load_vocabulary


def harmonic_mean(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


@METRICS.register_module()
class OVIoUMetric(IoUMetric):
    """IoU metric of a zero-shot / open-vocabulary split.

    Adds ``mIoU_seen``, ``mIoU_unseen`` and ``hIoU`` (harmonic mean of the
    two, the zero-shot segmentation convention) to mmseg's ``aAcc / mIoU /
    mAcc`` and per-class table. Classes are matched by name against the
    dataset's ``metainfo['classes']``.

    Args:
        unseen_classes: the classes not supervised in training: names, a
            vocabulary split (``'voc:zs_unseen'``) or a file. Every other
            evaluated class counts as seen. None: only the mmseg metrics.
        classwise: also return ``IoU_<class>`` for every class.
        **kwargs: ``IoUMetric`` arguments (``ignore_index``, ``iou_metrics``...).
    """

    def __init__(self, unseen_classes: Optional[VocabularyLike] = None, classwise: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.unseen_classes = load_vocabulary(unseen_classes).names if unseen_classes is not None else None
        self.classwise = classwise

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)  # mmseg's summary and per-class table
        if self.format_only:
            return metrics
        intersect, union = (sum(parts) for parts in tuple(zip(*results))[:2])
        iou = (intersect / union).numpy()  # NaN: class absent from labels and predictions
        names = list(self.dataset_meta['classes'])
        if self.classwise:
            metrics.update({f'IoU_{n}': round(float(v) * 100, 2) for n, v in zip(names, iou)})
        if self.unseen_classes is None:
            return metrics
        missing = [n for n in self.unseen_classes if n not in names]
        if missing:
            raise ValueError(
                f'unseen_classes {missing[:5]} are not classes of the evaluated dataset '
                f'({len(names)} classes, e.g. {names[:3]}); name them as its metainfo does.'
            )
        unseen = np.isin(names, self.unseen_classes)
        split = OrderedDict(mIoU_seen=self._mean(iou[~unseen]), mIoU_unseen=self._mean(iou[unseen]))
        split['hIoU'] = round(harmonic_mean(split['mIoU_seen'], split['mIoU_unseen']), 2)
        print_log(' '.join(f'{k}: {v:.2f}' for k, v in split.items()), logger='current')
        metrics.update(split)
        return metrics

    @staticmethod
    def _mean(values: Sequence[float]) -> float:
        """mIoU in percent over the classes present (mmseg's nanmean); 0 when none is."""
        values = np.asarray(values, dtype=float)
        return float(np.round(np.nanmean(values) * 100, 2)) if np.isfinite(values).any() else 0.0
