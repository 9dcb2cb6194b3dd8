"""A trained checkpoint plus its config is all inference needs: the quickstart's trained models, with
their pre-training file gone, run from a folder outside the repository through the hosts' own
tools/test.py (with the shipped config, data paths overridden, and with the config mmengine dumped),
the hosts' inferencers and our API; the hosts' own tools/train.py trains the shipped config there."""

import glob
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import pytest
from conftest import tool_env, tool_helpers

HOST = dict(detection='mmdet', segmentation='mmseg', action='mmaction')
METRIC = dict(detection='coco/novel_ap50', segmentation='mIoU_unseen', action='acc/novel_top1')
INPUT = dict(detection='detection/images/val/*.jpg', segmentation='segmentation/img_dir/val/*.jpg')
INPUT['action'] = 'actions/videos/val/*.mp4'
# in one process: the host's tools/train.py, its tools/test.py twice, then its inferencer (init function for
# mmaction2), then ours
DRIVER = """
import json, os, runpy, sys
spec = json.loads(sys.argv[1])
tools = os.path.join(spec['host'], '.mim', 'tools')
config, options, work_dir = spec['train']
sys.argv = ['train.py', config, '--work-dir', work_dir, '--cfg-options', *options]
runpy.run_path(os.path.join(tools, 'train.py'), run_name='__main__')
print('TRAINED', config, flush=True)
for config, options, work_dir in spec['tests']:
    sys.argv = ['test.py', config, spec['checkpoint'], '--work-dir', work_dir, '--cfg-options', *options]
    runpy.run_path(os.path.join(tools, 'test.py'), run_name='__main__')
    print('TESTED', config, flush=True)

import icar_mm  # for set_vocabulary, after the host built the model from the dumped config alone
task, config, checkpoint, item, vocabulary = (spec[k] for k in ('task', 'dumped', 'checkpoint', 'input', 'vocabulary'))
if task == 'detection':
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model=config, weights=checkpoint, device='cpu')
    icar_mm.set_vocabulary(inferencer.model, vocabulary)
    sample = inferencer(item, return_datasamples=True, no_save_vis=True)['predictions'][0]
    labels = sample.pred_instances.labels.tolist()
elif task == 'segmentation':
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=config, weights=checkpoint, device='cpu')
    icar_mm.set_vocabulary(inferencer.model, vocabulary)
    sample = inferencer(item, return_datasamples=True)
    labels = sample.pred_sem_seg.data.unique().tolist()
else:
    from mmaction.apis import inference_recognizer, init_recognizer
    model = init_recognizer(config, checkpoint, device='cpu')
    icar_mm.set_vocabulary(model, vocabulary)
    labels = [int(inference_recognizer(model, item).pred_scores.item.argmax())]
print('HOST', json.dumps(labels))
model = icar_mm.init_model(spec['shipped'], checkpoint, vocabulary=vocabulary, device='cpu')
print('OURS', json.dumps(list(icar_mm.inference(model, item).classes)))
"""


@pytest.mark.slow
@pytest.mark.parametrize('task', ['detection', 'segmentation', 'action'])
def test_trained_models_run_in_the_hosts_tools_without_their_pretraining_file(task, quickstart_run, tmp_path):
    from mmengine.config import Config

    from icar_mm.datasets.synthetic import ALL_ACTIONS, ALL_CLASSES

    tool_helpers()  # tools/ on the path
    import quickstart  # its tasks and data paths

    spec_task = quickstart.TASKS[task]
    work = quickstart_run / 'quickstart'
    run_dir = work / task / 'pretrained'
    dumped = str(run_dir / osp.basename(spec_task.config))
    checkpoint = (run_dir / 'last_checkpoint').read_text().strip()
    pretraining = Config.fromfile(dumped).model.backbone.checkpoint
    assert pretraining.endswith('icar_synthetic.pth') and not osp.exists(pretraining), 'the pre-training file is gone'

    data = str(work / 'data' / spec_task.data)
    vocabulary = list(ALL_ACTIONS if task == 'action' else ALL_CLASSES)
    loop = Config.fromfile(spec_task.config).train_cfg
    length = 'max_iters' if 'max_iters' in loop else 'max_epochs'
    short = [f'train_cfg.{length}=1', 'train_cfg.val_interval=1'] + (['train_cfg.val_begin=1'] * ('val_begin' in loop))
    spec = dict(
        task=task,
        host=osp.dirname(importlib.util.find_spec(HOST[task]).origin),
        checkpoint=checkpoint,
        shipped=spec_task.config,
        dumped=dumped,
        # trained from scratch: the shipped config names a pre-training file that is not here
        train=(
            spec_task.config,
            [f'{field}=None' for field in spec_task.weights] + quickstart.data_options(spec_task, data) + short,
            str(tmp_path / 'trained'),
        ),
        tests=[
            (spec_task.config, quickstart.data_options(spec_task, data), str(tmp_path / 'shipped')),
            (dumped, ['default_hooks.logger.interval=1'], str(tmp_path / 'dumped')),
        ],
        input=sorted(glob.glob(str(work / 'data' / INPUT[task])))[0],
        vocabulary=vocabulary,
    )
    env = tool_env()
    env.pop('PYTHONPATH')  # icar_mm as installed (make setup: editable), as a user's folder finds it
    proc = subprocess.run(
        [sys.executable, '-c', DRIVER, json.dumps(spec)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert out.count('TRAINED') == 1 and glob.glob(str(tmp_path / 'trained' / '*_1.pth')), out[-3000:]
    assert out.count('TESTED') == 2 and out.count(METRIC[task]) >= 3, out[-3000:]
    host = json.loads(out.split('HOST ', 1)[1].splitlines()[0])
    assert all(0 <= label < len(vocabulary) + 1 for label in host), host  # + 1: segmentation's background
    assert json.loads(out.split('OURS ', 1)[1].splitlines()[0]) == vocabulary
