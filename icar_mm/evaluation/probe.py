"""A linear probe of what an image encoder has learned, per attribute of the
class names (``'red circle'``: colour ``red``, shape ``circle``)."""

from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ..registry import METRICS


def fit_linear_probe(
    train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, steps: int = 100, weight_decay: float = 1e-4
) -> torch.Tensor:
    """Multinomial logistic regression on frozen features (standardised on the
    training half, full-batch L-BFGS); returns the predicted labels of ``test``."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std
    classes = int(train_labels.max()) + 1
    weight = torch.zeros(train.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(train @ weight + bias, train_labels) + weight_decay * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return (test @ weight + bias).argmax(-1)


@METRICS.register_module()
class LinearProbeMetric(BaseMetric):
    """Linear-probe accuracy (%) of pooled image features, one probe per
    attribute: attribute ``i`` of a class is the ``i``-th word of its name.
    The first ``train_fraction`` of the evaluated samples trains the probes,
    the rest tests them; chance is ``100 / number of values``.

    Expects predictions ``dict(features=[D] tensor, label=int)`` (as
    :class:`~icar_mm.models.ICARPretrainer` gives them in ``predict`` mode)
    and class names in ``dataset_meta['classes']``.
    """

    default_prefix = 'probe'

    def __init__(
        self,
        attributes: Sequence[str] = ('colour', 'shape'),
        train_fraction: float = 0.5,
        collect_device: str = 'cpu',
        prefix=None,
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.attributes, self.train_fraction = tuple(attributes), train_fraction

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append((sample['features'].float().cpu(), int(sample['label'])))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        classes = list(self.dataset_meta['classes'])
        words = [name.split() for name in classes]
        odd = [c for c, w in zip(classes, words) if len(w) != len(self.attributes)]
        if odd:
            raise ValueError(
                f'LinearProbeMetric reads the attributes {self.attributes} as the words of a class name, '
                f'but the classes include {odd[0]!r}: give one attribute per word.'
            )
        features = torch.stack([f for f, _ in results])
        labels = torch.tensor([label for _, label in results])
        split = int(len(results) * self.train_fraction)
        if split < 2 or split >= len(results):
            raise ValueError(f'LinearProbeMetric needs samples on both sides of its split; got {len(results)}.')
        metrics = {}
        for i, attribute in enumerate(self.attributes):
            values = sorted({w[i] for w in words})
            target = torch.tensor([values.index(words[label][i]) for label in labels.tolist()])
            predicted = fit_linear_probe(features[:split], target[:split], features[split:])
            metrics[attribute] = round(100 * (predicted == target[split:]).float().mean().item(), 1)
            metrics[f'{attribute}_chance'] = round(100 / len(values), 1)
        MMLogger.get_current_instance().info(
            'linear probe on %d held-out images: %s',
            len(results) - split,
            ', '.join(f'{a} {metrics[a]:.1f} % (chance {metrics[a + "_chance"]:.0f} %)' for a in self.attributes),
        )
        return metrics
