"""Open-vocabulary metrics the hosts do not ship (one module per task)."""
from .action import OVAccMetric
from .multilabel import MultiLabelMetric, average_precision, multilabel_metrics
from .segmentation import OVIoUMetric

__all__ = ['OVAccMetric', 'OVIoUMetric', 'MultiLabelMetric', 'average_precision', 'multilabel_metrics']
