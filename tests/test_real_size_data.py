"""benchmarks/real_size_data.py: for every shipped config, the data it writes
in the real dataset's layout builds with the config's own dataset classes (its
dataloaders, as its runner builds them, with only the returned options
merged) and the first sample of each runs the config's full pipeline."""

import argparse
import glob
import os.path as osp
import sys

import pytest
from conftest import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))

LAYOUTS = {  # each shipped config: the layout of the dataset it is evaluated on
    'detection/mask-rcnn_icar-swin-b_fpn_cosine_1x_coco.py': 'coco',
    'detection/mask-rcnn_icar-swin-t_fpn_cosine_1x_coco.py': 'coco',
    'detection/mask-rcnn_icar-swin-t_fpn_cosine_1x_ov-coco.py': 'coco',
    'segmentation/upernet_icar-swin-b_cosine_8xb2-160k_ade20k-512x512.py': 'ade20k',
    'segmentation/upernet_icar-swin-t_cosine_8xb2-160k_ade20k-512x512.py': 'ade20k',
    'segmentation/upernet_icar-swin-t_cosine_8xb2-20k_voc12aug-zs15-512x512.py': 'voc-aug',
    'segmentation/upernet_icar-swin-t_cosine_8xb2-80k_coco-stuff164k-zs156-512x512.py': 'coco-stuff',
    'segmentation/upernet_icar-swin-t_cosine_coco-stuff164k-zs156_test-ade20k-512x512.py': 'ade20k',
    'segmentation/upernet_icar-swin-t_cosine_coco-stuff164k-zs156_test-pascal-context59-512x512.py': 'pascal-context',
    'recognition/swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-base2novel-rgb.py': 'kinetics',
    'recognition/swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py': 'kinetics',
    'recognition/swin-b-p244-w877_icar_cosine_zero-shot_hmdb51-rgb.py': 'hmdb51',
    'recognition/swin-b-p244-w877_icar_cosine_zero-shot_kinetics600-new-rgb.py': 'kinetics',
    'recognition/swin-b-p244-w877_icar_cosine_zero-shot_ucf101-rgb.py': 'ucf101',
    'multilabel/pvp_icar-swin-b_sentences_zs-coco.py': 'coco-multilabel',
    'multilabel/pvp_vit-b-16_dual-adapter_coco.py': 'coco-multilabel',
    'multilabel/pvp_vit-b-16_sentences_zs-coco.py': 'coco-multilabel',
    'multilabel/pvp_vit-b-16_sentences_zs-voc2007.py': 'voc2007-multilabel',
}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """One root for all configs: the datasets they share are written once."""
    return str(tmp_path_factory.mktemp('real_size_data'))


def test_every_shipped_config_is_listed():
    shipped = {
        osp.relpath(p, osp.join(REPO, 'configs'))
        for task in ('detection', 'segmentation', 'recognition', 'multilabel')
        for p in glob.glob(osp.join(REPO, 'configs', task, '*.py'))
    }
    assert shipped == set(LAYOUTS)


@pytest.mark.parametrize('config', sorted(LAYOUTS))
def test_config_reads_its_real_size_data(config, data_root):
    from mmengine.config import DictAction
    from mmengine.registry import DATASETS, init_default_scope
    from real_size_data import LOOPS, layout_of, write_for_config

    from icar_mm.apis import load_config

    cfg = load_config(osp.join(REPO, 'configs', config))
    assert layout_of(cfg) == LAYOUTS[config]
    options = write_for_config(cfg, data_root, 2, 2)
    assert all(isinstance(v, str) and v.startswith(data_root) for v in options.values()), options
    # as tools/train.py reads them from its command line
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    assert parser.parse_args(['--cfg-options', *(f'{k}={v}' for k, v in options.items())]).cfg_options == options
    cfg.merge_from_dict(options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    built = 0
    for split, loop in LOOPS:
        if not cfg.get(f'{split}_dataloader') or not cfg.get(loop):
            continue
        dataset = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
        assert len(dataset) > 0, split
        sample = dataset[0]
        assert sample['inputs'] is not None, split
        if 'gt_sem_seg' in sample['data_samples']:
            values = set(sample['data_samples'].gt_sem_seg.data.unique().tolist())
            assert values <= set(range(len(dataset.metainfo['classes']))) | {255}, values
        built += 1
    assert built >= 1
