"""The embedded open-vocabulary world: coloured shapes on textured backgrounds.

Classes are colour-shape pairs ("red circle"), each with a one-sentence
description. Some pairs are *novel*: they appear in images and captions but
never as box labels in the base split. Every colour and every shape also
appears in base classes, so novel classes are reachable by composition.

Objects sit one per cell of a 2x2 grid (:func:`cell_centres`). Its actions
are colour changes ("circle turning red", shipped as the
``synthetic_actions`` vocabulary): a shape drifting in its cell takes that
colour midway through the clip; the actions ending as novel objects are novel.

Writers (all deterministic by seed, offline, a few seconds):
  * :func:`write_detection_set`  COCO-format json with boxes, masks and captions;
  * :func:`write_segmentation_set`  images + label-map PNGs in mmseg's layout;
  * :func:`write_video_set`  short mp4 clips (objects or actions) + an mmaction
    annotation list.
"""

import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

COLOURS: Dict[str, Tuple[Tuple[int, int, int], str]] = {
    # name: (RGB, description fragment)
    'red': ((220, 40, 40), 'bright red like a ripe tomato'),
    'green': ((40, 170, 60), 'grass green'),
    'blue': ((40, 90, 230), 'deep blue like a clear sky at noon'),
    'yellow': ((235, 205, 30), 'sunny yellow like a lemon'),
}
SHAPES: Dict[str, str] = {
    'circle': 'a round flat shape with one smooth curved edge and no corners',
    'square': 'a flat shape with four equal straight sides and four right-angled corners',
    'triangle': 'a flat shape with three straight sides and three pointed corners',
    'cross': 'a plus-shaped figure made of two equal bars crossing at right angles',
}
# One held-out pair per colour and per shape (a shifted diagonal).
NOVEL_PAIRS = (('red', 'square'), ('green', 'triangle'), ('blue', 'cross'), ('yellow', 'circle'))


def class_name(colour: str, shape: str) -> str:
    return f'{colour} {shape}'


def synthetic_vocabulary() -> List[dict]:
    """All colour-shape classes as vocabulary entries (name + description)."""
    return [
        dict(name=class_name(c, s), description=f'{SHAPES[s]}, coloured {COLOURS[c][1]}.')
        for c in COLOURS
        for s in SHAPES
    ]


ALL_CLASSES = tuple(e['name'] for e in synthetic_vocabulary())
NOVEL_CLASSES = tuple(class_name(c, s) for c, s in NOVEL_PAIRS)
BASE_CLASSES = tuple(n for n in ALL_CLASSES if n not in NOVEL_CLASSES)


def action_name(shape: str, colour: str) -> str:
    return f'{shape} turning {colour}'


def action_vocabulary() -> List[dict]:
    """The actions: a shape that changes its colour to one of the four,
    midway through the clip (name + description)."""
    return [
        dict(name=action_name(s, c), description=f'{SHAPES[s]}, changing its colour to {COLOURS[c][1]}.')
        for s in SHAPES
        for c in COLOURS
    ]


ALL_ACTIONS = tuple(e['name'] for e in action_vocabulary())
# The actions ending as the novel objects: novel pairs of words the base names use.
NOVEL_ACTIONS = tuple(action_name(s, c) for c, s in NOVEL_PAIRS)
BASE_ACTIONS = tuple(n for n in ALL_ACTIONS if n not in NOVEL_ACTIONS)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast grey texture: stripes or checks plus noise."""
    yy, xx = np.mgrid[:size, :size]
    period = rng.uniform(6, 20)
    angle = rng.uniform(0, np.pi)
    pattern = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / period * 2 * np.pi)
    if rng.random() < 0.5:
        pattern = pattern * np.sin((xx * np.sin(angle) - yy * np.cos(angle)) / period * 2 * np.pi)
    base = rng.uniform(90, 160)
    img = base + 18 * pattern[..., None] + rng.normal(0, 6, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _shape_mask(shape: str, cx: int, cy: int, r: int, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    if shape == 'circle':
        cv2.circle(mask, (cx, cy), r, 1, -1)
    elif shape == 'square':
        cv2.rectangle(mask, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
    elif shape == 'triangle':
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    elif shape == 'cross':
        w = max(r // 3, 1)
        cv2.rectangle(mask, (cx - r, cy - w), (cx + r, cy + w), 1, -1)
        cv2.rectangle(mask, (cx - w, cy - r), (cx + w, cy + r), 1, -1)
    return mask.astype(bool)


def cell_centres(rng: np.random.Generator, size: int, num: int) -> List[Tuple[int, int]]:
    """Centres of ``num`` distinct cells of the world's 2x2 grid, each moved
    by up to ``size // 32`` px: objects never overlap, and each sits where a
    tiny Swin's last-stage tokens see it whole (a 64 px image has 2x2 of them)."""
    cell, jitter = size // 2, size // 32
    return [
        (cell // 2 + cell * (k % 2) + int(dx), cell // 2 + cell * (k // 2) + int(dy))
        for k, (dx, dy) in zip(rng.permutation(4)[:num], rng.integers(-jitter, jitter + 1, (num, 2)))
    ]


PLACEMENTS = ('grid', 'anywhere', 'centre')


def _centres(rng: np.random.Generator, size: int, num: int, placement: str) -> List[Tuple[int, int]]:
    if placement == 'grid':
        return cell_centres(rng, size, num)
    if placement == 'centre':
        return [(size // 2, size // 2)][:num]
    if placement == 'anywhere':  # far enough from the border for the largest object
        return [tuple(int(v) for v in rng.integers(size // 5 + 1, size - size // 5 - 1, 2)) for _ in range(num)]
    raise ValueError(f'placement must be one of {PLACEMENTS}, got {placement!r}')


def render_scene(
    rng: np.random.Generator, size: int, classes: Sequence[str], max_objects: int = 3, placement: str = 'grid'
) -> Tuple[np.ndarray, List[dict]]:
    """One RGB image and its objects (class name, box xywh, binary mask).

    ``placement``: ``'grid'`` (the world's own) one object per cell of a 2x2
    grid (:func:`cell_centres`); ``'anywhere'`` at random positions, objects
    that would overlap an earlier one left out; ``'centre'`` one object at the
    image centre.
    """
    img = _background(rng, size)
    objects, occupied = [], np.zeros((size, size), bool)
    for cx, cy in _centres(rng, size, int(rng.integers(1, min(max_objects, 4) + 1)), placement):
        name = classes[int(rng.integers(len(classes)))]
        colour, shape = name.split(' ')
        mask = _shape_mask(shape, cx, cy, int(rng.integers(size // 10, size // 5)), size)
        if (mask & occupied).any():
            continue
        occupied |= mask
        rgb = np.array(COLOURS[colour][0]) + rng.normal(0, 8, 3)
        img[mask] = np.clip(rgb, 0, 255).astype(np.uint8)
        ys, xs = np.nonzero(mask)
        box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        objects.append(dict(name=name, bbox=box, mask=mask))
    return img, objects


def caption_of(objects: List[dict]) -> str:
    names = [o['name'] for o in objects]
    if len(names) == 1:
        return f'a picture of a {names[0]} on a textured background.'
    return f'a picture of a {", a ".join(names[:-1])} and a {names[-1]} on a textured background.'


def _mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def write_detection_set(
    root: str,
    split: str = 'train',
    num_images: int = 16,
    size: int = 128,
    seed: int = 0,
    scene_classes: Sequence[str] = ALL_CLASSES,
    label_classes: Optional[Sequence[str]] = None,
    categories: Sequence[str] = ALL_CLASSES,
) -> str:
    """Write ``root/images/<split>/*.jpg`` and ``root/annotations/<split>.json``
    (COCO instances with boxes, polygon masks and a caption per image).

    ``scene_classes`` may appear in images and captions; only objects of
    ``label_classes`` (default: all of them) get box annotations, which makes
    a base-only training set when novel classes are drawn but not labelled.
    Returns the annotation file path.
    """
    rng = np.random.default_rng(seed)
    label_classes = set(scene_classes if label_classes is None else label_classes)
    cat_id = {n: i + 1 for i, n in enumerate(categories)}
    img_dir = osp.join(root, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    images, annotations, captions = [], [], []
    for i in range(num_images):
        img, objects = render_scene(rng, size, list(scene_classes))
        file_name = f'{split}_{i:05d}.jpg'
        cv2.imwrite(osp.join(img_dir, file_name), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=i + 1, file_name=file_name, width=size, height=size))
        captions.append(dict(image_id=i + 1, id=i + 1, caption=caption_of(objects)))
        for o in objects:
            if o['name'] in label_classes:
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=i + 1,
                        category_id=cat_id[o['name']],
                        bbox=o['bbox'],
                        area=float(o['mask'].sum()),
                        iscrowd=0,
                        segmentation=_mask_to_polygons(o['mask']),
                    )
                )
    ann_file = osp.join(root, 'annotations', f'{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                captions=captions,
                categories=[dict(id=cat_id[n], name=n) for n in categories],
            ),
            f,
        )
    return ann_file


def write_segmentation_set(
    root: str,
    split: str = 'train',
    num_images: int = 8,
    size: int = 64,
    seed: int = 0,
    scene_classes: Sequence[str] = ALL_CLASSES,
    classes: Sequence[str] = ALL_CLASSES,
    ignore_index: int = 255,
    background_class: Optional[str] = None,
    label_classes: Optional[Sequence[str]] = None,
) -> None:
    """Write ``root/img_dir/<split>/*.jpg`` and ``root/ann_dir/<split>/*.png``
    label maps (index in ``classes``; unlisted classes ignored). Background
    pixels are ignored too (ADE20K style), or labelled ``background_class``
    when it is one of ``classes`` (VOC style). Objects of classes outside
    ``label_classes`` (default: all) are drawn but their pixels ignored, which
    makes a base-only training set whose labels still index ``classes``."""
    rng = np.random.default_rng(seed)
    labelled = set(classes if label_classes is None else label_classes) | {background_class}
    index = {n: i for i, n in enumerate(classes) if n in labelled}
    fill = index[background_class] if background_class is not None else ignore_index
    for sub in ('img_dir', 'ann_dir'):
        os.makedirs(osp.join(root, sub, split), exist_ok=True)
    for i in range(num_images):
        img, objects = render_scene(rng, size, list(scene_classes))
        label = np.full((size, size), fill, np.uint8)
        for o in objects:  # unlabelled objects are ignored, not background
            label[o['mask']] = index.get(o['name'], ignore_index)
        cv2.imwrite(osp.join(root, 'img_dir', split, f'{i:05d}.jpg'), img[..., ::-1])
        cv2.imwrite(osp.join(root, 'ann_dir', split, f'{i:05d}.png'), label)


def render_clip(rng: np.random.Generator, name: str, size: int = 64, num_frames: int = 16) -> List[np.ndarray]:
    """RGB frames of one clip: a shape drifting in a cell of the grid, on a
    textured background.
    ``name`` is an object ("red circle": that colour throughout) or an action
    ("circle turning red": another colour until midway, then red)."""
    words = name.split(' ')
    shape, colour = (words[0], words[-1]) if len(words) == 3 else (words[1], words[0])
    others = [c for c in COLOURS if c != colour]
    before = others[int(rng.integers(len(others)))] if len(words) == 3 else colour
    bg = _background(rng, size)
    r = size // 6
    start = np.array(cell_centres(rng, size, 1)[0])
    end = start + rng.integers(-(size // 32), size // 32 + 1, 2)  # a drift within its cell
    frames = []
    for i, t in enumerate(np.linspace(0, 1, num_frames)):
        frame = bg.copy()
        cx, cy = start + t * (end - start)
        frame[_shape_mask(shape, int(cx), int(cy), r, size)] = COLOURS[before if i < num_frames // 2 else colour][0]
        frames.append(frame)
    return frames


def write_video_set(
    root: str,
    split: str = 'train',
    num_videos: int = 8,
    size: int = 64,
    num_frames: int = 16,
    seed: int = 0,
    classes: Sequence[str] = ALL_CLASSES,
    draw_from: Optional[Sequence[str]] = None,
) -> str:
    """Write ``root/videos/<split>/*.mp4`` (:func:`render_clip` of a class)
    and ``root/<split>_list.txt`` lines ``<file> <label>`` as mmaction's
    VideoDataset reads them.

    Labels index ``classes`` (objects such as ``ALL_CLASSES``, or actions such
    as ``ALL_ACTIONS``); clips show classes drawn from ``draw_from`` (default:
    ``classes``), e.g. ``BASE_ACTIONS`` for the training half of a
    base-to-novel split whose labels still index all classes."""
    rng = np.random.default_rng(seed)
    draw_from = list(classes if draw_from is None else draw_from)
    unknown = [c for c in draw_from if c not in classes]
    if unknown:
        raise ValueError(f'draw_from names classes outside classes: {unknown}')
    vid_dir = osp.join(root, 'videos', split)
    os.makedirs(vid_dir, exist_ok=True)
    lines = []
    for i in range(num_videos):
        name = draw_from[int(rng.integers(len(draw_from)))]
        path = osp.join(vid_dir, f'{i:05d}.mp4')
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 8, (size, size))
        for frame in render_clip(rng, name, size, num_frames):
            writer.write(frame[..., ::-1].copy())
        writer.release()
        lines.append(f'{osp.basename(path)} {list(classes).index(name)}')
    ann_file = osp.join(root, f'{split}_list.txt')
    with open(ann_file, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann_file
