import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from ..classifier import iter_classifiers
from ..registry import HOOKS


@HOOKS.register_module()
class VocabularyHook(Hook):
    """Gives every text-generated classifier that names no vocabulary in its
    config the classes of the dataset it is about to see
    (``dataset.metainfo['classes']``), so class names are never typed twice.

    Training, validation and test datasets may differ (an open-vocabulary
    split trains on base classes and evaluates on all): the vocabulary is
    switched at the start of each phase; embeddings of each vocabulary stay
    cached, so switching back is free.
    """
    priority = 'VERY_HIGH'

    @staticmethod
    def _apply(runner, loader):
        dataset = getattr(loader, 'dataset', None)
        classes = getattr(dataset, 'metainfo', {}).get('classes') if dataset is not None else None
        if not classes:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for classifier in iter_classifiers(model):
            if classifier.follows_dataset:
                classifier.set_vocabulary(list(classes))

    def before_train(self, runner):
        self._apply(runner, runner.train_dataloader)

    def after_val_epoch(self, runner, metrics=None):
        # Back to the training vocabulary when validation runs inside training.
        if isinstance(runner._train_loop, BaseLoop):
            self._apply(runner, runner._train_loop.dataloader)

    def before_val_epoch(self, runner):
        self._apply(runner, runner.val_dataloader)

    def before_test_epoch(self, runner):
        self._apply(runner, runner.test_dataloader)


@HOOKS.register_module()
class ExportICARHook(Hook):
    """After training, write the model's weights in the iCAR layout
    (``visual_model.backbone.*``, ``visual_model.projector.*``,
    ``sentence_model.*``) to ``work_dir/filename``: the file downstream
    backbones (``checkpoint=``) and text encoders (``checkpoint=``) load."""

    def __init__(self, filename: str = 'icar_checkpoint.pth'):
        self.filename = filename

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'export_icar'):
            raise TypeError(f'ExportICARHook needs a model with export_icar() (icar_mm.ICARPretrainer), '
                            f'got {type(model).__name__}.')
        path = osp.join(runner.work_dir, self.filename)
        model.export_icar(path)
        runner.logger.info(f'iCAR-layout checkpoint written to {path}')
