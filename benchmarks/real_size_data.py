"""A few samples of the real dataset each shipped config reads, in that
dataset's own on-disk layout and at its real resolution, so that the config
runs through tools/train.py and tools/test.py with only data paths overridden.

    python benchmarks/real_size_data.py CONFIG [CONFIG ...] [--root DIR] [--train N] [--test N]

writes the data and prints each config's layout and ``--cfg-options``.

Under ``root`` the config's own paths are mirrored: ``root/data/coco/``,
``root/data/ade/ADEChallengeData2016/``, ``root/data/kinetics400/`` ... (one
folder per dataset, as in the repository's ``data/``), and the options set
each dataset's ``data_root`` (for the recognition configs, whose list and
video paths start at ``data/``: ``root``), the evaluators' ``ann_file`` and a
vocabulary file the dataset reads (Kinetics-600's label map). A dataset split
already written with the same number of samples is reused.

Images are smooth random colour blobs with noise (regions of one label share a
colour); label values are random classes of the dataset, with its unlabelled
value where the real data has one; everything is seeded.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import os.path as osp
import shutil
import sys
import time
import xml.etree.ElementTree as ET
import zlib

import cv2
import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from icar_mm.text.vocabulary import load_vocabulary  # noqa: E402

SEED = 0
LOOPS = (('train', 'train_cfg'), ('val', 'val_cfg'), ('test', 'test_cfg'))
# dataset type -> layout; the video datasets are told apart by their list file
LAYOUTS = {
    'CocoDataset': 'coco',
    'ADE20KDataset': 'ade20k',
    'PascalVOCDataset': 'voc-aug',
    'COCOStuffDataset': 'coco-stuff',
    'PascalContextDataset59': 'pascal-context',
    'CocoMultiLabelDataset': 'coco-multilabel',
    'VOCMultiLabelDataset': 'voc2007-multilabel',
}
VIDEO_TYPES = ('VideoDataset', 'OVVideoDataset')
# the 80 category ids of COCO's instances files (1-90 with gaps), in the order of mmdet's classes
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
# layout: (image size (w, h), class values, values of the "nothing listed" region, border value)
# ADE20K's 0 ("other") and Pascal-Context's 0 (background) are ignored by reduce_zero_label;
# VOC labels background 0 and marks object borders 255; COCO-Stuff leaves unlabelled pixels 255.
SEGMENTATION = {
    'ade20k': ((683, 512), range(1, 151), (0,), None),
    'voc-aug': ((500, 375), range(1, 21), (0,), 255),
    'coco-stuff': ((640, 480), range(171), (255,), None),
    'pascal-context': ((500, 375), range(1, 60), (0,), None),
}
# layout: (frame size (w, h), fps, frames, container, vocabulary when the dataset names none).
# SampleFrames(clip_len=32, frame_interval=2) spans 64 frames: any video of at least 64 frames
# gives the train clip and the 4 test clips without looping; these are the real typical lengths.
VIDEOS = {
    'kinetics': ((340, 256), 30, 300, '.mp4', 'kinetics400'),  # 10 s clips, short side 256
    'ucf101': ((320, 240), 25, 175, '.avi', 'ucf101'),  # 7 s, UCF101's mean length
    'hmdb51': ((320, 240), 30, 90, '.avi', 'hmdb51'),  # 3 s
}
YOUTUBE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
FOURCC = {'.mp4': 'mp4v', '.avi': 'XVID'}  # what OpenCV's FFmpeg encodes; decord, PyAV and OpenCV decode them


# --- shared helpers -------------------------------------------------------------------
def smooth(rng, h, w, channels, cells=5):
    """Smooth random fields, (h, w, channels): a coarse Gaussian grid upsampled bicubically."""
    coarse = rng.normal(size=(cells, max(2, cells * w // h), channels)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)


def image(rng, h, w, regions=None):
    """A non-constant RGB image: smooth colour blobs plus noise; one colour per region of ``regions``."""
    img = 120 + 60 * smooth(rng, h, w, 3)
    if regions is not None:
        img += rng.uniform(-70, 70, (regions.max() + 1, 3))[regions]
    img += rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_objects(rng, img, count):
    """Draw ``count`` random star-shaped polygons (radius 30-140 px) in ``img``; their int32 (k, 2) vertices."""
    h, w = img.shape[:2]
    polygons = []
    for _ in range(count):
        r = rng.uniform(30, min(140, h / 2 - 1))
        centre = rng.uniform((r, r), (w - r, h - r))
        angles = np.sort(rng.uniform(0, 2 * np.pi, 10))
        radii = r * rng.uniform(0.6, 1.0, 10)
        polygon = np.round(centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)).astype(np.int32)
        cv2.fillPoly(img, [polygon], [int(c) for c in rng.integers(0, 256, 3)])
        polygons.append(polygon)
    return polygons


def random_ids(rng, n, high=10**6):
    return sorted(int(i) for i in rng.choice(high, n, replace=False))


def voc_palette():
    """PASCAL VOC's colour map, the palette of its SegmentationClass PNGs: bits of the index spread over RGB."""
    idx = np.arange(256)[:, None]
    return sum(((idx >> (3 * j + np.arange(3))) & 1) << (7 - j) for j in range(8)).astype(np.uint8)


def save_jpg(path, rgb):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def save_png(path, label, palette=None):
    """A uint8 label map: greyscale, or a palette PNG (VOC's SegmentationClass) read back as indices."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    png = Image.fromarray(label.astype(np.uint8))
    if palette is not None:
        png = png.convert('P')
        png.putpalette(palette.ravel().tolist())
    png.save(path)


def save_text(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def save_json(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)


def save_video(path, rng, size, fps, num_frames):
    """A clip of a smooth random scene, panning, with a disc crossing it."""
    (w, h), pad = size, 64
    scene = image(rng, h + pad, w + pad)
    pan, track = rng.uniform(0, pad, (2, 2)), rng.uniform((0, 0), (w, h), (2, 2))
    colour = [int(c) for c in rng.integers(0, 256, 3)]
    os.makedirs(osp.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*FOURCC[osp.splitext(path)[1]]), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {path}')
    for t in np.linspace(0, 1, num_frames):
        x, y = (pan[0] + t * (pan[1] - pan[0])).astype(int)
        frame = np.ascontiguousarray(scene[y : y + h, x : x + w, ::-1])
        cv2.circle(frame, tuple(int(v) for v in track[0] + t * (track[1] - track[0])), 30, colour, -1)
        writer.write(frame)
    writer.release()


# --- one writer per layout: (ds_dir, dataset cfg, samples, rng, layout) -> None ----------
def write_coco(ds_dir, ds, n, rng, layout):
    """COCO instances (``coco``: 2017 for detection, ``coco-multilabel``: 2014 for PVP):
    ``<split>/<id:012d>.jpg`` (2014: ``COCO_<split>_<id:012d>.jpg``) at 640x480 and
    ``annotations/instances_<split>.json`` with 1-4 objects an image (box, polygon mask, area)
    under the real category ids and names; for 2017 also the open-vocabulary file that
    tools/dataset_converters/ov_coco.py derives from it (train: ov-base, val: ov-all)."""
    split = osp.basename(osp.normpath(ds.data_prefix['img']))  # 'train2017', 'val2014' ...
    classes, base_names = load_vocabulary('coco').names, load_vocabulary('coco:ov_base').names
    base = [classes.index(c) for c in base_names]
    images, annotations = [], []
    for image_id in random_ids(rng, n):
        file_name = f'COCO_{split}_{image_id:012d}.jpg' if split.endswith('2014') else f'{image_id:012d}.jpg'
        img = image(rng, 480, 640)
        for k, polygon in enumerate(draw_objects(rng, img, int(rng.integers(1, 5)))):
            # the first object of a base class, as most COCO images hold a person: each image stays in ov-base
            label = int(rng.choice(base) if k == 0 else rng.integers(len(classes)))
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=COCO_IDS[label],
                    bbox=[float(v) for v in cv2.boundingRect(polygon)],
                    area=float(cv2.contourArea(polygon)),
                    iscrowd=0,
                    segmentation=[polygon.ravel().astype(float).tolist()],
                )
            )
        save_jpg(osp.join(ds_dir, ds.data_prefix['img'], file_name), img)
        images.append(dict(id=image_id, file_name=file_name, width=640, height=480))
    instances = dict(
        info=dict(description=f'real-size samples of COCO {split} (benchmarks/real_size_data.py)'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i, name=c) for i, c in zip(COCO_IDS, classes)],
    )
    save_json(osp.join(ds_dir, 'annotations', f'instances_{split}.json'), instances)
    if split.endswith('2017'):
        spec = importlib.util.spec_from_file_location('ov_coco', osp.join(REPO, 'tools/dataset_converters/ov_coco.py'))
        ov_coco = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ov_coco)
        ov = base_names + load_vocabulary('coco:ov_novel').names
        keep, name = (base_names, 'ov-base') if split.startswith('train') else (ov, 'ov-all')
        out = ov_coco.convert(instances, keep, ov, drop_images_without_annotations=name == 'ov-base')
        save_json(osp.join(ds_dir, 'annotations', f'instances_{split}_{name}.json'), out)


def write_segmentation(ds_dir, ds, n, rng, layout):
    """mmseg's layouts: images ``<img_path>/<name>.jpg`` and label maps ``<seg_map_path>/<name><suffix>``,
    3-5 smooth regions each, one of them the dataset's "nothing listed" value (see SEGMENTATION):
    ``ade20k``: ADE_train_00000001 / ADE_val_... at 683x512, 0 = other and 1-150 (reduce_zero_label);
    ``coco-stuff``: 000000xxxxxx with ``_labelTrainIds.png``, 0-170 and 255, 640x480;
    ``voc-aug``: VOC2012 ids at 500x375, 0-20 with 255 borders, palette PNGs in SegmentationClass,
    greyscale in SegmentationClassAug, the ids in ``ImageSets/Segmentation/<list>.txt``;
    ``pascal-context``: VOC2010 ids, 0 = background and 1-59 (reduce_zero_label), ImageSets/SegmentationContext."""
    (w, h), classes, nothing, border = SEGMENTATION[layout]
    img_dir, seg_dir = (osp.join(ds_dir, ds.data_prefix[k]) for k in ('img_path', 'seg_map_path'))
    if not ds.get('ann_file'):  # the dataset lists these folders: only this split's files may be there
        for folder in (img_dir, seg_dir):
            shutil.rmtree(folder, ignore_errors=True)
    if layout == 'ade20k':
        names = [f'ADE_{"train" if "train" in img_dir else "val"}_{i:08d}' for i in range(1, n + 1)]
    elif layout == 'coco-stuff':
        names = [f'{i:012d}' for i in random_ids(rng, n)]
    else:
        names = [f'{2008 + i % 4}_{i:06d}' for i in random_ids(rng, n)]
    suffix = '_labelTrainIds.png' if layout == 'coco-stuff' else '.png'
    palette = voc_palette() if osp.basename(osp.normpath(seg_dir)) == 'SegmentationClass' else None
    for name in names:
        k = int(rng.integers(3, 6))
        regions = smooth(rng, h, w, k).argmax(-1)
        values = rng.choice(classes, k)
        values[0] = rng.choice(nothing)
        label = values[regions]
        if border is not None:  # pixels where the region changes within 2 px
            edges = cv2.morphologyEx(regions.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
            label[edges > 0] = border
        save_jpg(osp.join(img_dir, f'{name}.jpg'), image(rng, h, w, regions))
        save_png(osp.join(seg_dir, f'{name}{suffix}'), label, palette)
    if ds.get('ann_file'):
        save_text(osp.join(ds_dir, ds.ann_file), names)


def write_videos(ds_dir, ds, n, rng, layout):
    """mmaction's video layouts: ``<list>.txt`` lines ``<class folder>/<file> <label>`` and the
    videos under ``data_prefix.video`` (see VIDEOS for size, rate and length):
    ``kinetics``: ``abseiling/<youtube id>_000012_000022.mp4`` (class folders with '_' for spaces);
    ``ucf101``: ``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi``;
    ``hmdb51``: ``brush_hair/<clip>_brush_hair_u_cm_np1_fr_med_0.avi``.
    Labels index the dataset's vocabulary; successive clips cycle through its shipped splits
    (Kinetics-400: base, novel), or all come from the split a dataset keeps (``keep_classes``). A vocabulary
    file the dataset names (Kinetics-600's label_map_k600.txt) is written too: the real one comes
    with mmaction's dataset tools, so here 600 names in its alphabetical one-a-line format, the
    220 new classes exactly and 380 Kinetics-400 names standing in for the classes both share;
    its clips cycle through the new classes and the others."""
    size, fps, frames, ext, default = VIDEOS[layout]
    spec = ds.get('vocabulary') or default
    if isinstance(spec, str) and spec.endswith('.txt'):
        new = load_vocabulary('kinetics600_new').names
        save_text(osp.join(ds_dir, spec), sorted(new + load_vocabulary('kinetics400').names[:380]))
        vocab = load_vocabulary(osp.join(ds_dir, spec))
        groups = [new, [c for c in vocab.names if c not in new]]
    else:
        vocab = load_vocabulary(spec)
        groups = list(vocab.splits.values()) or [vocab.names]
    if ds.get('keep_classes'):  # a dataset keeping one split (base-to-novel training) gets only its clips
        groups = [load_vocabulary(ds.keep_classes).names]
    lines = []
    for i in range(n):
        group = groups[i % len(groups)]
        name = group[int(rng.integers(len(group)))]
        folder = name.replace(' ', '_').replace('"', '')
        if layout == 'kinetics':
            start = int(rng.integers(0, 300))
            youtube_id = ''.join(rng.choice(list(YOUTUBE_CHARS), 11))
            file = f'{youtube_id}_{start:06d}_{start + 10:06d}{ext}'
        elif layout == 'ucf101':
            file = f'v_{folder}_g{i % 7 + 1:02d}_c{i // 7 + 1:02d}{ext}'  # split 1 tests groups 1-7
        else:
            file = f'clip{i:03d}_{folder}_u_cm_np1_fr_med_0{ext}'
        save_video(osp.join(ds_dir, ds.data_prefix['video'], folder, file), rng, size, fps, frames)
        lines.append(f'{folder}/{file} {vocab.names.index(name)}')
    save_text(osp.join(ds_dir, ds.ann_file), lines)


def write_voc2007(ds_dir, ds, n, rng, layout):
    """PASCAL VOC 2007 as VOCMultiLabelDataset reads it: ``JPEGImages/<id:06d>.jpg`` (500x375),
    ``Annotations/<id>.xml`` (1-3 objects: name, pose, truncated, difficult (1 in 5), 1-based
    bndbox) and the ids in ``ImageSets/Main/<list>.txt``."""
    from icar_mm.multilabel.sentences import VOC_CLASSES

    prefix = ds.get('data_prefix') or dict(img='JPEGImages', ann='Annotations')
    ids = [f'{i:06d}' for i in random_ids(rng, n, 10**4)]
    for img_id in ids:
        img = image(rng, 375, 500)
        root = ET.Element('annotation')
        ET.SubElement(root, 'folder').text = 'VOC2007'
        ET.SubElement(root, 'filename').text = f'{img_id}.jpg'
        size = ET.SubElement(root, 'size')
        for key, value in (('width', 500), ('height', 375), ('depth', 3)):
            ET.SubElement(size, key).text = str(value)
        for polygon in draw_objects(rng, img, int(rng.integers(1, 4))):
            x, y, w, h = cv2.boundingRect(polygon)
            obj = ET.SubElement(root, 'object')
            fields = dict(name=VOC_CLASSES[int(rng.integers(20))], pose='Unspecified', truncated='0')
            fields['difficult'] = str(int(rng.random() < 0.2))
            for key, value in fields.items():
                ET.SubElement(obj, key).text = value
            box = ET.SubElement(obj, 'bndbox')
            for key, value in (('xmin', x + 1), ('ymin', y + 1), ('xmax', x + w), ('ymax', y + h)):
                ET.SubElement(box, key).text = str(value)
        save_jpg(osp.join(ds_dir, prefix['img'], f'{img_id}.jpg'), img)
        os.makedirs(osp.join(ds_dir, prefix['ann']), exist_ok=True)
        ET.ElementTree(root).write(osp.join(ds_dir, prefix['ann'], f'{img_id}.xml'))
    save_text(osp.join(ds_dir, ds.ann_file), ids)


WRITERS = {
    'coco': write_coco,
    'coco-multilabel': write_coco,
    'voc2007-multilabel': write_voc2007,
    **{layout: write_segmentation for layout in SEGMENTATION},
    **{layout: write_videos for layout in VIDEOS},
}


# --- configs --------------------------------------------------------------------------
def dataset_layout(ds):
    """The layout a dataset cfg reads; None for one that reads only shipped files (a sentence corpus)."""
    from icar_mm.multilabel.sentences import SHIPPED_CORPORA

    kind = str(ds.get('type', '')).split('.')[-1]
    ann_file = str(ds.get('ann_file') or '')
    if kind in LAYOUTS:
        return LAYOUTS[kind]
    if kind in VIDEO_TYPES:
        found = [layout for layout in VIDEOS if layout in ann_file.lower()]
        if found:
            return found[0]
    if kind == 'SentenceDataset' and ann_file in SHIPPED_CORPORA:
        return None
    raise ValueError(
        f'No real-size layout for dataset type {ds.get("type")!r} (data_root={ds.get("data_root")!r}, '
        f'ann_file={ann_file!r}); known: {sorted(WRITERS)}.'
    )


def leaf_datasets(ds, key):
    """(dotted key, dataset cfg) of every dataset under a wrapper (ConcatDataset, RepeatDataset ...)."""
    if 'datasets' in ds:
        for i, sub in enumerate(ds.datasets):
            yield from leaf_datasets(sub, f'{key}.datasets.{i}')
    elif 'dataset' in ds:
        yield from leaf_datasets(ds.dataset, f'{key}.dataset')
    else:
        yield key, ds


def layout_of(cfg) -> str:
    """The layout of the dataset ``cfg`` is evaluated on (its test dataloader; val or train without one)."""
    for split in ('test', 'val', 'train'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            layouts = [dataset_layout(ds) for _, ds in leaf_datasets(loader.dataset, '')]
            if any(layouts):
                return [layout for layout in layouts if layout][0]
    raise ValueError('The config has no dataloader reading files.')


def _under(root, path):
    return osp.join(root, str(path).lstrip('/'))


def write_dataset(ds, key, root, n):
    """Write the ``n`` samples ``ds`` reads under ``root`` (unless already there); its options."""
    layout = dataset_layout(ds)
    if layout is None:
        return {}
    ds_dir = _under(root, ds.get('data_root') or '')
    # one identity per split; the ov-COCO files come with the official one they derive from
    ann = str(ds.get('ann_file') or '').replace('_ov-base', '').replace('_ov-all', '')
    kept = ds.get('keep_classes') or ''
    ident = json.dumps([layout, ds.get('data_root') or '', ann, ds.get('data_prefix') or {}, n, kept], sort_keys=True)
    done = osp.join(root, '.written', hashlib.sha1(ident.encode()).hexdigest()[:16])
    if not osp.exists(done):
        WRITERS[layout](ds_dir, ds, n, np.random.default_rng([SEED, zlib.crc32(ident.encode())]), layout)
        if ds.get('ann_file') and not osp.isfile(osp.join(ds_dir, ds.ann_file)):
            raise RuntimeError(f'The {layout} writer did not write {ds.ann_file!r}, which the dataset reads.')
        save_text(done, [ident])
    options = {f'{key}.data_root': ds_dir}
    vocabulary = ds.get('vocabulary')
    if isinstance(vocabulary, str) and vocabulary.endswith(('.txt', '.json')) and not osp.isabs(vocabulary):
        options[f'{key}.vocabulary'] = _under(ds_dir, vocabulary)
    return options


def write_for_config(cfg: 'mmengine.Config', root: str, train_samples: int, test_samples: int) -> dict:  # noqa: F821
    """Write the datasets `cfg`'s train/val/test dataloaders read under `root` (one sub-folder per dataset
    layout, reused if already complete) and return cfg options {dotted.key: value} that point the config's
    dataloaders (and any evaluator ann_file) at them; nothing else in the config changes.

    Only the dataloaders a runner builds are written: train with a ``train_cfg``, val with a
    ``val_cfg``, test with a ``test_cfg``; ``train_samples`` images or videos for training,
    ``test_samples`` for val and test."""
    root = osp.abspath(root)
    options = {}
    for split, loop in LOOPS:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not cfg.get(loop):
            continue
        for key, ds in leaf_datasets(loader.dataset, f'{split}_dataloader.dataset'):
            options.update(write_dataset(ds, key, root, train_samples if split == 'train' else test_samples))
        evaluator = cfg.get(f'{split}_evaluator')
        if isinstance(evaluator, dict) and evaluator.get('ann_file'):
            options[f'{split}_evaluator.ann_file'] = _under(root, evaluator.ann_file)
    return options


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--root', default='work_dirs/real_size/data')
    parser.add_argument('--train', type=int, default=2, help='images or videos per training split')
    parser.add_argument('--test', type=int, default=2, help='images or videos per val / test split')
    args = parser.parse_args()
    from icar_mm.apis import load_config

    for config in args.configs:
        cfg = load_config(config)
        start = time.perf_counter()
        options = write_for_config(cfg, args.root, args.train, args.test)
        print(f'{config}: {layout_of(cfg)}, {time.perf_counter() - start:.1f} s')
        print('  --cfg-options ' + ' '.join(f'{k}={v}' for k, v in options.items()))


if __name__ == '__main__':
    main()
