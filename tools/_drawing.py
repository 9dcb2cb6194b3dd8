"""Drawing predictions with the hosts' visualizers (mmdet's DetLocalVisualizer,
mmseg's SegLocalVisualizer, mmaction's ActionVisualizer), shared by the
inference tools, the web demo and the quickstart. Small images (the embedded
world's are 64-128 px) are drawn enlarged so that names can be read."""

import cv2
import mmcv
import numpy as np
import torch
from mmengine.structures import PixelData

DISPLAY_MIN_SIDE = 480
TOPK = 5


def add_legend(image: np.ndarray, entries) -> np.ndarray:
    """Append a legend panel (colour swatch + class name per entry) to an RGB image."""
    row = max(14, image.shape[0] // 16)
    font_scale = row / 30
    width = (
        max([cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)[0][0] for name, _ in entries] + [0])
        + row
        + 12
    )
    panel = np.full((max(image.shape[0], row * len(entries) + 8), width, 3), 255, np.uint8)
    for i, (name, colour) in enumerate(entries):
        y = 4 + i * row
        cv2.rectangle(panel, (4, y + 2), (row - 2, y + row - 2), tuple(int(c) for c in colour), -1)
        cv2.putText(
            panel, name, (row + 4, y + int(row * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA
        )
    canvas = np.full((panel.shape[0], image.shape[1] + width, 3), 255, np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    canvas[:, image.shape[1] :] = panel
    return canvas


def clip_frames(path: str, num: int = 1):
    """RGB frames evenly spread over the clip, side by side: the middle one for
    ``num=1`` (None when OpenCV cannot decode the clip)."""
    capture = cv2.VideoCapture(path)
    frames = []
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for i in range(num):
            if count > 1:
                capture.set(cv2.CAP_PROP_POS_FRAMES, (2 * i + 1) * count // (2 * num))
            ok, frame = capture.read()
            if ok:
                frames.append(frame[..., ::-1])
    finally:
        capture.release()
    if not frames:
        return None
    gap = np.full((frames[0].shape[0], max(frames[0].shape[1] // 32, 1), 3), 255, np.uint8)
    return np.concatenate([x for f in frames for x in (f, gap)][:-1], axis=1)


def draw_labels(visualizer, frame, lines):
    """The reported classes in a box over the frame, as mmaction's ActionVisualizer writes its labels."""
    if frame is None:  # a back-end other than OpenCV decoded the clip
        frame = np.zeros((224, 224, 3), np.uint8)
    if frame.shape[0] < 224:  # small clips: enlarged so that the labels can be read
        frame = mmcv.imrescale(frame, 224 / frame.shape[0])
    scale = frame.shape[0] / 224
    visualizer.set_image(frame)
    visualizer.draw_texts(
        '\n'.join(lines) or 'no class above the threshold',
        np.array([(int(5 * scale),) * 2]),
        font_sizes=int(7 * scale),
        font_families='monospace',
        colors='white',
        bboxes=dict(facecolor='black', alpha=0.5, boxstyle='Round'),
    )
    return visualizer.get_image()


_visualizers = {}


def visualizer(task: str):
    """One host visualizer per task (mmengine keeps visualizers by name); the host is imported when first drawn."""
    if task not in _visualizers:
        if task == 'detection':
            from mmdet.visualization import DetLocalVisualizer

            _visualizers[task] = DetLocalVisualizer(name='icar_detection')
        elif task == 'segmentation':
            from mmseg.visualization import SegLocalVisualizer

            _visualizers[task] = SegLocalVisualizer(name='icar_segmentation', alpha=0.5)
        else:
            from mmaction.visualization import ActionVisualizer

            _visualizers[task] = ActionVisualizer(name='icar_recognition')
    return _visualizers[task]


def enlarged(image, min_side: int = DISPLAY_MIN_SIDE):
    """Small images (the quickstart's are 128 px) are drawn enlarged, so that
    labels can be read: the image and a nearest-neighbour resize for label maps
    and masks (None when the image is large enough)."""
    h, w = image.shape[:2]
    if min(h, w) >= min_side:
        return image, None
    size = (round(h * min_side / min(h, w)), round(w * min_side / min(h, w)))
    rows, cols = np.arange(size[0]) * h // size[0], np.arange(size[1]) * w // size[1]

    def resize(array):  # (..., h, w) numpy array or tensor
        if isinstance(array, np.ndarray):
            return array[..., rows, :][..., cols]
        index = [torch.as_tensor(i, device=array.device) for i in (rows, cols)]
        return array[..., index[0], :][..., index[1]]

    resize.scale = (size[1] / w, size[0] / h)
    return cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR), resize


def draw_detection(model, sample, path: str, thr: float):
    """Boxes, masks, names and scores of the detections scoring at least ``thr``."""
    from mmdet.structures import DetDataSample

    classes = list(sample.classes)
    pred = sample.pred_instances
    keep = pred.scores >= thr
    found = [
        dict(label=classes[int(label)], score=round(float(score), 4), bbox=[round(float(v), 1) for v in box])
        for label, score, box in zip(pred.labels[keep], pred.scores[keep], pred.bboxes[keep])
    ]
    image, resize = enlarged(mmcv.imread(path, channel_order='rgb'))
    pred = pred[keep].clone()  # kept here: the visualizer's own threshold is exclusive
    if resize is not None:
        pred.bboxes = pred.bboxes * pred.bboxes.new_tensor(resize.scale * 2)
        if 'masks' in pred:
            pred.masks = resize(pred.masks)
    vis = visualizer('detection')
    vis.dataset_meta = model.dataset_meta
    vis.add_datasample('result', image, DetDataSample(pred_instances=pred), draw_gt=False, pred_score_thr=-1)
    return vis.get_image(), dict(detections=found, classes=classes), f'{len(found)} detections of at least {thr:g}'


def draw_segmentation(model, sample, path: str, thr: float, hidden=()):
    """The class mask with names, and a legend of the classes found; pixels
    whose class score is below ``thr``, or of a ``hidden`` class (such as
    'background'), stay undrawn."""
    from mmseg.structures import SegDataSample

    classes, palette = list(sample.classes), model.dataset_meta['palette']
    labels = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.int64)
    scores = sample.seg_logits.data.float().softmax(0).max(0).values.cpu().numpy()
    labels[(scores < thr) | np.isin(labels, [classes.index(c) for c in hidden if c in classes])] = -1
    # unlabelled: neither drawn nor counted
    ids, areas = np.unique(labels, return_counts=True)
    found = [
        dict(label=classes[i], area=round(float(a) / labels.size, 4), score=round(float(scores[labels == i].mean()), 4))
        for i, a in sorted(zip(ids, areas), key=lambda x: -x[1])
        if i >= 0
    ]
    image, resize = enlarged(cv2.imread(path)[..., ::-1])
    drawn = np.where(labels < 0, len(classes), labels)  # past the last class: the visualizer leaves it out
    if resize is not None:
        drawn = resize(drawn)
    vis = visualizer('segmentation')
    vis.dataset_meta = dict(classes=classes, palette=palette)
    vis.add_datasample(
        'result',
        image,
        SegDataSample(pred_sem_seg=PixelData(data=torch.from_numpy(drawn)[None])),
        draw_gt=False,
        with_labels=True,
    )
    drawn = add_legend(vis.get_image(), [(d['label'], palette[classes.index(d['label'])]) for d in found])
    return drawn, dict(segments=found, classes=classes), f'{len(found)} classes found'


def draw_recognition(model, sample, path: str, thr: float, topk: int = TOPK, frames: int = 1, truth: str = None):
    """The top-k classes scoring at least ``thr`` over ``frames`` frames of the
    clip, and the true class when known."""
    classes = list(sample.classes)
    scores = sample.pred_scores.item.float().cpu()
    top = [i for i in scores.argsort(descending=True).tolist()[:topk] if scores[i] >= thr]
    found = [dict(label=classes[i], score=round(float(scores[i]), 4)) for i in top]
    lines = [f'{d["score"]:.2f} {d["label"]}' for d in found] + ([f'true: {truth}'] if truth else [])
    drawn = draw_labels(visualizer('recognition'), clip_frames(path, frames), lines)
    return drawn, dict(top=found, classes=classes), f'top {len(found)} of {len(classes)} classes'


DRAW = dict(detection=draw_detection, segmentation=draw_segmentation, recognition=draw_recognition)
