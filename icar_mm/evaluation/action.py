"""Open-vocabulary action recognition accuracy: mmaction's top-k and mean
class accuracy, overall and per class split (base / novel)."""

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmaction.evaluation.functional import mean_class_accuracy, top_k_accuracy
from mmengine.evaluator import BaseMetric

from ..registry import METRICS
from ..text.vocabulary import VocabularyLike, load_vocabulary


@METRICS.register_module()
class OVAccMetric(BaseMetric):
    """Top-k and mean class accuracy (mmaction's ``AccMetric`` keys ``top1``,
    ``top5``, ``mean1``) over the whole vocabulary, and for each class split:
    clips of the split's classes, ranked among the split's classes only (the
    base-to-novel protocol), as ``<split>_top1``, ``<split>_top5``,
    ``<split>_mean1``; with ``base`` and ``novel`` splits also their harmonic
    mean ``hm_top1``.

    Args:
        topk: k values of top-k accuracy.
        splits: ``{name: vocabulary}`` (e.g. ``dict(novel='kinetics400:novel')``).
            None: the dataset's ``metainfo['base_classes']`` / ``['novel_classes']``
            when present. The column names of the scores are the dataset's
            ``metainfo['classes']``.
    """

    default_prefix: Optional[str] = 'acc'

    def __init__(
        self,
        topk: Union[int, Tuple[int, ...]] = (1, 5),
        splits: Optional[Dict[str, VocabularyLike]] = None,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)
        self.splits = splits

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            label = sample['gt_labels']['item']
            if label.numel() != 1:
                raise ValueError(
                    "OVAccMetric is for single-label clips; use mmaction's AccMetric with "
                    'mean_average_precision for multi-label data.'
                )
            self.results.append((sample['pred_scores']['item'].float().cpu().numpy(), int(label.item())))

    def _accuracy(self, scores: np.ndarray, labels: np.ndarray, prefix: str = '') -> Dict[str, float]:
        out = {f'{prefix}top{k}': float(a) for k, a in zip(self.topk, top_k_accuracy(scores, labels, self.topk))}
        out[f'{prefix}mean1'] = float(mean_class_accuracy(scores, labels))
        return out

    def _split_vocabularies(self) -> Dict[str, Sequence[str]]:
        if self.splits is not None:
            return {name: load_vocabulary(v).names for name, v in self.splits.items()}
        meta = self.dataset_meta or {}
        return {name: list(meta[f'{name}_classes']) for name in ('base', 'novel') if meta.get(f'{name}_classes')}

    def compute_metrics(self, results: list) -> Dict[str, float]:
        scores = np.stack([s for s, _ in results])
        labels = np.array([label for _, label in results])
        metrics = self._accuracy(scores, labels)
        splits = self._split_vocabularies()
        if not splits:
            return metrics
        classes = list((self.dataset_meta or {}).get('classes') or ())
        if len(classes) != scores.shape[1]:
            raise ValueError(
                f'Per-split accuracy needs the names of the {scores.shape[1]} score columns: '
                f"the dataset's metainfo['classes'] has {len(classes)} names."
            )
        index = {name: i for i, name in enumerate(classes)}
        for split, names in splits.items():
            unknown = [n for n in names if n not in index]
            if unknown:
                raise ValueError(f'Split {split!r} names classes outside the dataset vocabulary: {unknown[:5]}')
            columns = np.array([index[n] for n in names])
            remap = np.full(scores.shape[1], -1)
            remap[columns] = np.arange(len(columns))
            keep = remap[labels] >= 0
            if not keep.any():
                continue  # no clip of this split in the evaluated data
            metrics.update(self._accuracy(scores[keep][:, columns], remap[labels[keep]], f'{split}_'))
        if 'base_top1' in metrics and 'novel_top1' in metrics:
            b, n = metrics['base_top1'], metrics['novel_top1']
            metrics['hm_top1'] = 2 * b * n / (b + n) if b + n else 0.0
        return metrics
