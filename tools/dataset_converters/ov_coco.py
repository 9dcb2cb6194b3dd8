"""Write the open-vocabulary COCO (48 base / 17 novel) annotation files from
the official COCO 2017 instance annotations.

    python tools/dataset_converters/ov_coco.py data/coco/annotations

writes, next to the inputs:
  instances_train2017_ov-base.json  base-class annotations only; images with no
                                    base annotation are dropped (as OVR-CNN, ViLD
                                    and Detic do: novel objects in them would be
                                    learnt as background);
  instances_val2017_ov-all.json     annotations of all 65 base + novel classes.
Both keep the 65 categories with their COCO ids, so one vocabulary serves
training and evaluation. The split comes from icar_mm's ``coco`` vocabulary.
"""

import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from icar_mm.text.vocabulary import load_vocabulary  # noqa: E402


def convert(instances: dict, keep_classes, categories, drop_images_without_annotations: bool) -> dict:
    """Keep annotations of ``keep_classes`` and the ``categories`` (names), COCO ids unchanged."""
    by_name = {c['name']: c for c in instances['categories']}
    missing = [n for n in categories if n not in by_name]
    if missing:
        raise ValueError(f'The input is not COCO 2017 instances: categories {missing[:5]} are missing.')
    keep_ids = {by_name[n]['id'] for n in keep_classes}
    annotations = [a for a in instances['annotations'] if a['category_id'] in keep_ids]
    images = instances['images']
    if drop_images_without_annotations:
        with_ann = {a['image_id'] for a in annotations}
        images = [im for im in images if im['id'] in with_ann]
    out = {k: v for k, v in instances.items() if k not in ('images', 'annotations', 'categories')}
    out.update(
        images=images,
        annotations=annotations,
        categories=[c for c in instances['categories'] if c['name'] in set(categories)],
    )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_dir', help='folder with instances_train2017.json and instances_val2017.json')
    parser.add_argument('--out-dir', help='where to write (default: ann_dir)')
    args = parser.parse_args()
    out_dir = args.out_dir or args.ann_dir
    base = load_vocabulary('coco:ov_base').names
    all_ov = base + load_vocabulary('coco:ov_novel').names
    for split, keep, drop, name in (('train2017', base, True, 'ov-base'), ('val2017', all_ov, False, 'ov-all')):
        src = osp.join(args.ann_dir, f'instances_{split}.json')
        if not osp.isfile(src):
            raise SystemExit(f'{src} not found: expected the official COCO 2017 annotations in {args.ann_dir}.')
        with open(src) as f:
            out = convert(json.load(f), keep, all_ov, drop)
        dst = osp.join(out_dir, f'instances_{split}_{name}.json')
        with open(dst, 'w') as f:
            json.dump(out, f)
        print(
            f'{dst}: {len(out["images"])} images, {len(out["annotations"])} annotations, '
            f'{len(out["categories"])} categories'
        )


if __name__ == '__main__':
    main()
