"""Refining text-generated class weights on unlabeled target data."""

from .inmap import InMaPConfig, InMaPResult, pseudo_labels, refine_proxies, write_class_weights

__all__ = ['InMaPConfig', 'InMaPResult', 'pseudo_labels', 'refine_proxies', 'write_class_weights']
