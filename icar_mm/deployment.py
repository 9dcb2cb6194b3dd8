"""ONNX export of icar_mm detectors, segmentors and recognisers, with the
vocabulary baked in or given at run time.

After the text encoder has run, a vocabulary is a ``[C, D]`` matrix of class
embeddings. An export either holds that matrix as constants (the vocabulary
the model had when exported) or takes it as its second input,
``class_embeddings``, so that a deployed model changes its classes without
being exported again: :func:`save_class_embeddings` (``tools/deployment/
export_onnx.py --class-embeddings FILE.npz``) writes that matrix for any
vocabulary, with the class names, as numpy reads it.

Graphs take images as the host pipelines hand them to the model's data
pre-processor, before normalisation: float RGB values in 0-255, at the size
written next to the model (``<model>.json``: task, inputs, outputs, mean, std,
size, classes). Normalisation, padding and the channel order the model was
trained with are inside the graph.

    detection     image [1, 3, H, W]             -> boxes [N, 4] (x1, y1, x2, y2), scores [N], labels [N],
                                                    masks [N, 28, 28] (mask-head probabilities in each box)
    segmentation  image [1, 3, H, W]             -> seg_logits [1, C, H, W], labels [1, H, W]
    recognition   clips [V, 3, T, H, W] (views)  -> scores [C] (views averaged as the head's
                                                    average_clips says)

The graphs are built by ``torch.onnx.export`` (its ``torch.export``-based
exporter) from the models' own modules: ``extract_feat``, the RPN and RoI
heads with the model's ``test_cfg`` (:func:`detect`; NMS and RoI pooling
through torchvision's ops, which export to ONNX NonMaxSuppression and
RoiAlign), ``encode_decode`` of the segmentor, ``extract_feat`` and the
head's forward and ``average_clip`` of the recogniser.
"""

import json
import os
import os.path as osp
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from .apis.inference import task_of
from .apis.vocabulary import _bare
from .classifier import TextCosineClassifier

OPSET = 18
# task -> (the classifier that scores at inference, input names, output names)
GRAPHS = {
    'detection': ('roi_head.bbox_head.classifier', ('image',), ('boxes', 'scores', 'labels', 'masks')),
    'segmentation': ('decode_head.classifier', ('image',), ('seg_logits', 'labels')),
    'recognition': ('cls_head.classifier', ('clips',), ('scores',)),
}


def _classifier(model, task: str) -> TextCosineClassifier:
    path = GRAPHS[task][0]
    try:
        classifier = model.get_submodule(path)
    except AttributeError:
        classifier = None
    if not isinstance(classifier, TextCosineClassifier):
        raise ValueError(
            f'Only icar_mm models export with a vocabulary: this {task} model has no text-generated classifier at '
            f'{path!r} (found {type(classifier).__name__}).'
        )
    return classifier


class _Normalise(nn.Module):
    """RGB 0-255 (channels in dim 1) -> what the model's data pre-processor hands the model."""

    def __init__(self, preprocessor, task: str):
        super().__init__()
        shape = (3, 1, 1, 1) if task == 'recognition' else (3, 1, 1)
        self.register_buffer('mean', preprocessor.mean.detach().reshape(shape).clone())
        self.register_buffer('std', preprocessor.std.detach().reshape(shape).clone())
        # images load as BGR and are converted by bgr_to_rgb; decoded video frames are RGB and to_rgb
        # would swap them: where the model sees BGR, the graph swaps its RGB input
        if task == 'recognition':
            self.flip = bool(preprocessor.to_rgb)
        else:  # mmseg names the flag channel_conversion, mmengine's ImgDataPreprocessor _channel_conversion
            self.flip = not getattr(preprocessor, 'channel_conversion', getattr(preprocessor, '_channel_conversion', 0))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return ((rgb.flip(1) if self.flip else rgb) - self.mean) / self.std


def _nms(boxes, scores, groups, iou: float):
    """Indices kept by NMS within each group, by descending score: mmcv's
    batched_nms (groups offset apart) through ``torchvision::nms``, which
    exports to ONNX NonMaxSuppression."""
    offsets = groups.to(boxes) * (boxes.max() + 1)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou)


def _roi_features(extractor, feats, boxes):
    """mmdet's SingleRoIExtractor on ``[N, 4]`` boxes without its per-level
    masked loop (data-dependent shapes): every level pools every box through
    ``torchvision::roi_align`` (ONNX RoiAlign), and each box keeps its level's."""
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
    levels = extractor.map_roi_levels(rois, len(feats))
    pooled = 0
    for level, (feat, layer) in enumerate(zip(feats, extractor.roi_layers)):
        out = torchvision.ops.roi_align(
            feat, rois, layer.output_size, layer.spatial_scale, layer.sampling_ratio, layer.aligned
        )
        pooled = pooled + out * (levels == level).to(out)[:, None, None, None]
    return pooled


def detect(model, x: torch.Tensor):
    """A two-stage detector's test forward on one normalised image ``[1, 3, H, W]``
    -> boxes ``[N, 4]`` (x1, y1, x2, y2 in input pixels), scores ``[N]``,
    labels ``[N]``, masks ``[N, h, w]`` (mask-head probabilities inside each
    box; ``[N, 0, 0]`` without a mask head), as mmdet's ``predict`` with the
    model's ``test_cfg``: RPN top-k per level, NMS across levels, RoI head,
    per-class NMS above the score threshold."""
    size = tuple(x.shape[2:])
    divisor = getattr(model.data_preprocessor, 'pad_size_divisor', 1)
    x = F.pad(x, (0, -size[1] % divisor, 0, -size[0] % divisor))
    feats = model.extract_feat(x)
    rpn, cfg = model.rpn_head, model.test_cfg
    cls_scores, bbox_preds = rpn(feats)
    priors = rpn.prior_generator.grid_priors([s.shape[-2:] for s in cls_scores], device=x.device)
    boxes, scores, levels = [], [], []
    for level, (score, delta, prior) in enumerate(zip(cls_scores, bbox_preds, priors)):
        score = score[0].permute(1, 2, 0).reshape(-1).sigmoid()  # RPN: one sigmoid objectness per anchor
        delta = delta[0].permute(1, 2, 0).reshape(-1, rpn.bbox_coder.encode_size)
        score, top = score.topk(min(cfg.rpn.nms_pre, score.shape[0]))
        boxes.append(rpn.bbox_coder.decode(prior[top], delta[top], max_shape=size))
        scores.append(score)
        levels.append(torch.full_like(top, level))
    boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
    if cfg.rpn.get('min_bbox_size', -1) >= 0:
        least = cfg.rpn.min_bbox_size
        wide = ((boxes[:, 2] - boxes[:, 0]) > least) & ((boxes[:, 3] - boxes[:, 1]) > least)
        boxes, scores, levels = boxes[wide], scores[wide], levels[wide]
    proposals = boxes[_nms(boxes, scores, levels, cfg.rpn.nms.iou_threshold)[: cfg.rpn.max_per_img]]

    roi_head, rcnn = model.roi_head, cfg.rcnn
    head = roi_head.bbox_head
    cls_score, bbox_pred = head(_roi_features(roi_head.bbox_roi_extractor, feats, proposals))
    probs = cls_score.softmax(-1)[:, :-1]  # the last column is the background
    boxes = head.bbox_coder.decode(proposals, bbox_pred, max_shape=size).reshape(len(proposals), -1, 4)
    classes = probs.shape[1]
    boxes = boxes.expand(-1, classes, -1) if boxes.shape[1] == 1 else boxes
    boxes, probs = boxes.reshape(-1, 4), probs.reshape(-1)
    labels = torch.arange(classes, device=x.device).repeat(len(proposals))
    above = probs > rcnn.score_thr
    boxes, probs, labels = boxes[above], probs[above], labels[above]
    keep = _nms(boxes, probs, labels, rcnn.nms.iou_threshold)[: rcnn.max_per_img]
    boxes, probs, labels = boxes[keep], probs[keep], labels[keep]
    if not roi_head.with_mask:
        return boxes, probs, labels, boxes.new_zeros(len(boxes), 0, 0)
    masks = roi_head.mask_head(_roi_features(roi_head.mask_roi_extractor, feats, boxes)).sigmoid()
    if masks.shape[1] > 1:  # class-specific masks: the label's
        masks = masks[torch.arange(len(labels), device=x.device), labels][:, None]
    return boxes, probs, labels, masks[:, 0]


class ExportGraph(nn.Module):
    """The forward an export traces: pre-processing, the model, its outputs;
    class weights from the second input, or the constants ``embeddings``."""

    def __init__(self, model, task: str, embeddings: Optional[torch.Tensor] = None):
        super().__init__()
        self.model, self.task = model, task
        self.classifier = _classifier(model, task)
        self.normalise = _Normalise(model.data_preprocessor, task)
        if embeddings is not None:
            self.register_buffer('embeddings', embeddings.detach().clone())
        else:
            self.embeddings = None

    def forward(self, inputs: torch.Tensor, class_embeddings: Optional[torch.Tensor] = None):
        weights = class_embeddings if class_embeddings is not None else self.embeddings
        with self.classifier.scoring_with(weights):
            x = self.normalise(inputs)
            if self.task == 'detection':
                return detect(self.model, x)
            if self.task == 'segmentation':
                size = tuple(inputs.shape[2:])
                meta = [dict(img_shape=size, pad_shape=size, ori_shape=size)]
                logits = self.model.encode_decode(x, meta)
                return logits, logits.argmax(1)
            feats, kwargs = self.model.extract_feat(x[None], test_mode=True)
            scores = self.model.cls_head(feats, **kwargs)
            return self.model.cls_head.average_clip(scores, num_segs=inputs.shape[0])[0]


def example_input(model, task: str, size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """An input of the shape the export fixes: one image at ``size`` (default:
    the pre-processor's, e.g. the crop size) or the views of one clip as the
    test pipeline makes them (``SampleFrames`` clips x crops, ``clip_len`` frames)."""
    pipeline = model.cfg.test_dataloader.dataset.pipeline
    if task == 'detection':  # the test pipeline's Resize scale (W, H): the box its images are resized into
        scale = next((t['scale'] for t in pipeline if t['type'] == 'Resize' and 'scale' in t), (1333, 800))
        return torch.rand(1, 3, *(size or scale[::-1])) * 255
    if task == 'segmentation':
        size = size or model.data_preprocessor.size or (512, 512)
        return torch.rand(1, 3, *size) * 255
    frames = next(t for t in pipeline if t['type'] == 'SampleFrames')
    crops = {'ThreeCrop': 3, 'TenCrop': 10}
    views = frames.get('num_clips', 1) * max([crops.get(t['type'], 1) for t in pipeline])
    crop = next((t.get('crop_size') for t in pipeline if 'crop_size' in t), 224)
    crop = size or ((crop, crop) if isinstance(crop, int) else tuple(crop))
    return torch.rand(views, 3, frames['clip_len'], *crop) * 255


def export_onnx(
    model,
    path: str,
    vocabulary_input: bool = False,
    size: Optional[Tuple[int, int]] = None,
) -> dict:
    """Export ``model`` (from :func:`icar_mm.init_model`, with the vocabulary to
    bake in already set) to ``path`` and write ``<path>.json`` beside it.

    Args:
        vocabulary_input: the class embeddings are the graph's second input
            (``[C, embed_dim]``, any C) instead of constants.
        size: the input's (H, W); default as :func:`example_input`.

    Returns:
        What ``<path>.json`` holds.
    """
    import onnx

    model = _bare(model).eval()
    task = task_of(model)
    if task not in GRAPHS:
        raise ValueError(f'ONNX export handles {sorted(GRAPHS)} models; this one is a {task} model.')
    classifier = _classifier(model, task)
    with torch.no_grad():
        embeddings = classifier.class_embeddings().detach().clone()
    graph = ExportGraph(model, task, None if vocabulary_input else embeddings).eval()
    example = example_input(model, task, size)
    _, inputs, outputs = GRAPHS[task]
    args, shapes = (example,), {'inputs': None}
    if vocabulary_input:
        args += (embeddings,)
        shapes['class_embeddings'] = {0: torch.export.Dim('classes', min=2)}
        inputs += ('class_embeddings',)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            graph,
            args,
            path,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_shapes=shapes,
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(path)
    info = dict(
        task=task,
        inputs={name: list(arg.shape) for name, arg in zip(inputs, args)},
        outputs=list(outputs),
        input_format='float RGB values in 0-255, resized to the input shape',
        mean=graph.normalise.mean.flatten().tolist(),
        std=graph.normalise.std.flatten().tolist(),
        embed_dim=classifier.embed_dim,
        vocabulary='input' if vocabulary_input else 'baked',
    )
    if vocabulary_input:  # the classes are whatever embeddings it is fed; the text tower makes them
        info['inputs']['class_embeddings'] = ['C', classifier.embed_dim]
        info['text'] = export_text_encoder(classifier, osp.splitext(path)[0])
    else:
        info['classes'] = list(classifier.class_names)
    with open(path + '.json', 'w') as f:
        json.dump(info, f, indent=1)
    return info


class _TextGraph(nn.Module):
    """tokens ``[P, L]`` -> unit prompt embeddings ``[P, D]``, as the classifier encodes prompts."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder.encode_tokens(tokens).float(), dim=-1)


def _save_tokenizer(encoder, path: str) -> dict:
    """The encoder's tokenizer as a ``tokenizers`` file that pads and cuts to its
    context length itself (open_clip's CLIP BPE rebuilt in ``tokenizers``, a
    Hugging Face tower's own), and the cleaning its tokenizer applies first."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    wrapper = encoder.tokenizer
    clean = wrapper.clean_fn.__name__.replace('_clean_', '')
    if clean not in ('lower', 'whitespace'):
        raise ValueError(f"ONNX text export: the tokenizer's {clean!r} cleaning is not supported.")
    if isinstance(wrapper, HFTokenizer):
        hf = wrapper.tokenizer
        tokenizer = Tokenizer.from_str(hf.backend_tokenizer.to_str())
        pad_id, pad = hf.pad_token_id, hf.pad_token
        length = encoder.context_length
    elif isinstance(wrapper, SimpleTokenizer):
        # what open_clip's SimpleTokenizer does, in tokenizers' terms (as transformers' CLIP converter)
        merges = sorted(wrapper.bpe_ranks, key=wrapper.bpe_ranks.get)
        tokenizer = Tokenizer(models.BPE(wrapper.encoder, merges, end_of_word_suffix='</w>'))
        words = Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""")
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(words, behavior='removed', invert=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        sot, eot = wrapper.decoder[wrapper.sot_token_id], wrapper.decoder[wrapper.eot_token_id]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f'{sot} $A {eot}', special_tokens=[(sot, wrapper.sot_token_id), (eot, wrapper.eot_token_id)]
        )
        pad_id, pad = 0, wrapper.decoder[0]  # open_clip pads with zeros
        length = wrapper.context_length
    else:
        raise ValueError(f'ONNX text export: no tokenizers equivalent of {type(wrapper).__name__}.')
    tokenizer.enable_truncation(length)
    tokenizer.enable_padding(length=length, pad_id=pad_id, pad_token=pad)
    tokenizer.save(path)
    return dict(clean=clean, context_length=length)


def export_text_encoder(classifier: TextCosineClassifier, stem: str) -> dict:
    """The classifier's text tower to ``STEM.text.onnx`` (tokens ``[P, L]`` -> unit
    embeddings ``[P, D]``) and its tokenizer to ``STEM.tokenizer.json``; -> what a runtime needs
    to turn class names into the ``[C, D]`` input of a vocabulary-input export
    (``tools/deployment/onnx_text.py`` does it with onnxruntime alone)."""
    encoder = classifier.text_encoder
    path, tokenizer_file = stem + '.text.onnx', stem + '.tokenizer.json'
    tokens = encoder.tokenize(['a photo of a cat.', 'a dog'])
    with torch.no_grad():
        torch.onnx.export(
            _TextGraph(encoder).eval(),
            (tokens,),
            path,
            input_names=['tokens'],
            output_names=['embeddings'],
            dynamic_shapes={'tokens': {0: torch.export.Dim('prompts', min=1)}},
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    text = dict(model=osp.basename(path), tokenizer=osp.basename(tokenizer_file))
    text.update(_save_tokenizer(encoder, tokenizer_file))
    text.update(templates=list(classifier.test_templates), enriched=classifier.enriched, background=None)
    if classifier.background_class is not None:  # a vocabulary naming it scores it with this weight
        weight = classifier._background_weight().detach().float().cpu()
        text['background'] = dict(name=classifier.background_class, embedding=weight.tolist())
    return text


def class_embeddings_of(model) -> Tuple[list, 'np.ndarray']:  # noqa: F821
    """(class names, ``[C, D]`` float32 class embeddings) that ``model``'s
    inference classifier scores with now (its vocabulary as set)."""
    model = _bare(model).eval()
    classifier = _classifier(model, task_of(model))
    with torch.no_grad():
        return list(classifier.class_names), classifier.class_embeddings().float().cpu().numpy()


def save_class_embeddings(path: str, model) -> None:
    """``path`` (.npz): ``embeddings`` ``[C, D]`` float32 and ``classes``, the
    input a ``vocabulary_input`` export takes for ``model``'s vocabulary."""
    import numpy as np

    names, embeddings = class_embeddings_of(model)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    np.savez(path, embeddings=embeddings, classes=np.array(names))
