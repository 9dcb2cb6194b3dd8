import os.path as osp
import random

import numpy as np
import torch
from mmengine.dist import all_gather, all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, find_latest_checkpoint

from ..classifier import TextCosineClassifier, iter_classifiers
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
    def apply(model, dataset) -> None:
        """Give the classifiers of ``model`` (or of its wrapper) that follow the
        dataset the classes of ``dataset`` (its ``metainfo['classes']``); a
        classifier with a named vocabulary must score as many classes."""
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if not classes:
            return
        model = model.module if is_model_wrapper(model) else model
        for classifier in iter_classifiers(model):
            if classifier.follows_dataset:
                classifier.set_vocabulary(list(classes), follow_dataset=True)
            elif classifier.vocabulary is not None and len(classifier.vocabulary) != len(classes):
                # labels index the dataset's classes: scores over other classes would be misread
                raise ValueError(
                    f'{type(dataset).__name__} has {len(classes)} classes but a classifier of the model '
                    f'scores {len(classifier.vocabulary)} ({", ".join(classifier.vocabulary.names[:3])}, ...), '
                    "set by its config (vocabulary=...) or by class weights. Labels index the dataset's "
                    "classes: remove vocabulary=... to follow the dataset's metainfo['classes'], or give "
                    'the dataset the same classes.'
                )

    def before_train(self, runner):
        self.apply(runner.model, runner.train_dataloader.dataset)

    def after_val_epoch(self, runner, metrics=None):
        # Back to the training vocabulary when validation runs inside training.
        if isinstance(runner._train_loop, BaseLoop):
            self.apply(runner.model, runner._train_loop.dataloader.dataset)

    def before_val_epoch(self, runner):
        self.apply(runner.model, runner.val_dataloader.dataset)

    def before_test_epoch(self, runner):
        self.apply(runner.model, runner.test_dataloader.dataset)


@HOOKS.register_module()
class ExportICARHook(Hook):
    """After training, write the model's weights in the iCAR authors' layout
    (``{'model': {visual_model.backbone.*, visual_model.projector.weight,
    sentence_model.*}}``, their Swin naming) to ``work_dir/filename``: the
    file downstream backbones, text encoders and projectors load."""

    def __init__(self, filename: str = 'icar_checkpoint.pth'):
        self.filename = filename

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'export_icar'):
            raise TypeError(
                f'ExportICARHook needs a model with export_icar() (icar_mm.ICARPretrainer), got {type(model).__name__}.'
            )
        path = osp.join(runner.work_dir, self.filename)
        model.export_icar(path)
        runner.logger.info(f'iCAR-layout checkpoint written to {path}')


class NonFiniteLossError(RuntimeError):
    """Training stopped at a NaN or infinite loss; the message names the step
    and the last good checkpoint."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stops training at the first NaN or infinite loss, naming the iteration,
    the losses at fault and the last checkpoint written (which is left as it
    is: nothing is saved after a non-finite step). Also refuses to write a
    checkpoint whose weights hold NaN or inf. In multi-process runs every
    rank stops at the same iteration."""

    priority = 'ABOVE_NORMAL'  # before CheckpointHook can save the step

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        # losses only: logged accuracies may be NaN legitimately (no valid pixel in a batch)
        bad = {
            k: v
            for k, v in outputs.items()
            if 'loss' in k and isinstance(v, torch.Tensor) and not torch.isfinite(v).all()
        }
        stop = torch.tensor(float(bool(bad)))
        all_reduce(stop)  # no-op in a single process
        if not stop.item():
            return
        found = (
            ', '.join(f'{k}={v.item() if v.numel() == 1 else v}' for k, v in bad.items()) or 'a loss on another process'
        )
        last = find_latest_checkpoint(runner.work_dir)
        raise NonFiniteLossError(
            f'Training stopped at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): expected finite '
            f'losses, found {found}. The weights after this step were not saved; '
            + (f'the last good checkpoint is {last}. ' if last else 'no checkpoint was written before it. ')
            + 'Lower the learning rate or warm up longer, clip gradients '
            '(optim_wrapper.clip_grad=dict(max_norm=...)) or train with --amp (dynamic loss scaling), then '
            + (f'resume with --resume {last}.' if last else 'train again.')
        )

    def before_save_checkpoint(self, runner, checkpoint):
        bad = [
            k
            for k, v in checkpoint.get('state_dict', {}).items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            last = find_latest_checkpoint(runner.work_dir)
            raise NonFiniteLossError(
                f'Refused to save a checkpoint at iteration {runner.iter}: {len(bad)} weights hold NaN or inf '
                f'({", ".join(bad[:5])}). Earlier checkpoints are untouched'
                + (f'; the last one is {last}.' if last else '.')
                + ' Lower the learning rate or clip gradients, then resume from it.'
            )


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Makes ``--resume`` exact. mmengine restarts the random streams from the
    config seed when it resumes, so a resumed run draws other RoI samples,
    augmentations, dropout masks than the uninterrupted run would have. Here
    every generator (python, numpy, torch) is re-seeded from (seed, rank,
    iteration) at the start of every epoch and iteration: what a step draws
    depends only on where it is, not on what this process ran before. With
    deterministic mode (``randomness=dict(seed=..., deterministic=True)``)
    a run resumed from a checkpoint ends with the same weights as an
    uninterrupted one. (Template choices have their own stream, saved with
    the classifier.)

    Exact for epoch-based loops, and for iteration-based loops with
    ``num_workers > 0``; with ``num_workers=0`` mmengine's re-reading of the
    skipped batches draws the first resumed batch's augmentation differently.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _reseed(runner, stream: int) -> None:
        seed = runner.seed if runner.seed is not None else 0
        value = int(np.random.SeedSequence([seed, get_rank(), runner.iter, stream]).generate_state(1)[0])
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)

    def before_train_epoch(self, runner):
        self._reseed(runner, 0)  # the epoch's first batch is read before before_train_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._reseed(runner, 1)


@HOOKS.register_module()
class DistributedCheckHook(Hook):
    """Multi-process training: logs losses averaged over all ranks (what one
    process with the whole batch logs, not rank 0's share), and every
    ``interval`` iterations checks that every rank scored with the same
    class weights and holds the same trainable text encoder, stopping with
    the iteration and the classifier if they drifted apart. Does nothing in
    a single process."""

    priority = 'HIGHEST'  # averages the outputs before RuntimeInfoHook logs them

    def __init__(self, interval: int = 50, average_losses: bool = True):
        self.interval = interval
        self.average_losses = average_losses

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if get_world_size() == 1:
            return
        if self.average_losses and outputs:
            for key, value in outputs.items():
                if isinstance(value, torch.Tensor):
                    value = value.detach().clone()
                    all_reduce(value, op='mean')
                    outputs[key] = value
        if self.interval and self.every_n_train_iters(runner, self.interval):
            self.check(runner)

    def check(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        names, fingerprints = [], []
        for name, module in model.named_modules():
            if not isinstance(module, TextCosineClassifier) or module.last_class_weights is None:
                continue
            groups = {'class weights': [module.last_class_weights]}
            encoder = module._modules.get('text_encoder')  # owned, not shared with another head
            if encoder is not None and encoder.trainable:
                groups['text encoder'] = [p.detach() for p in encoder.parameters()]
            for what, tensors in groups.items():
                flat = torch.cat([t.double().flatten() for t in tensors])
                index = torch.arange(1, len(flat) + 1, dtype=flat.dtype, device=flat.device)
                names.append(f'{what} of {name}')
                fingerprints.append(torch.stack([flat.sum(), (flat * index).sum()]))  # equal tensors: equal sums
        if not names:
            return
        gathered = all_gather(torch.stack(fingerprints))
        differ = [n for i, n in enumerate(names) if any(not torch.equal(g[i], gathered[0][i]) for g in gathered)]
        if differ:
            raise RuntimeError(
                f'At iteration {runner.iter + 1} the {differ} differ between the {len(gathered)} processes: '
                'expected every rank to score with identical class weights. Check that the vocabulary, '
                'templates and text-encoder weights do not depend on the rank (rank-specific dataset '
                'metainfo, files written by one rank only).'
            )
        runner.logger.info(f'iteration {runner.iter + 1}: {", ".join(names)} identical on {len(gathered)} processes')
