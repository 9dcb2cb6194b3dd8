"""Metrics the hosts do not ship, one module per task, all registered as
``icar_mm.<Name>`` for ``val_evaluator`` / ``test_evaluator``:

* ``action``: ``OVAccMetric`` (top-k and mean class accuracy, per class split);
* ``segmentation``: ``OVIoUMetric`` (mIoU over seen / unseen classes, hIoU);
* ``multilabel``: ``MultiLabelMetric`` (mAP, CF1 / OF1) for :mod:`icar_mm.multilabel`;
* ``probe``: ``LinearProbeMetric`` (linear-probe accuracy of image features per
  attribute of the class names, e.g. colour and shape).
"""

from .action import OVAccMetric
from .multilabel import MultiLabelMetric, average_precision, multilabel_metrics
from .probe import LinearProbeMetric, fit_linear_probe
from .segmentation import OVIoUMetric

__all__ = [
    'OVAccMetric',
    'OVIoUMetric',
    'MultiLabelMetric',
    'LinearProbeMetric',
    'average_precision',
    'fit_linear_probe',
    'multilabel_metrics',
]
