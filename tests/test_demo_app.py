"""The web demo (tools/demo_app.py): finding models, checking uploads, drawing;
then, in a real headless browser, Debian's chromium
(/usr/bin/chromium, installed by .ci/run) driven by Playwright, against the demo
served as a subprocess on 127.0.0.1."""

import glob
import os
import os.path as osp
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO, TEST_CONFIGS, tool_env, tool_helpers

CHROMIUM = '/usr/bin/chromium'
DET = osp.join(TEST_CONFIGS, 'tiny_ov_mask_rcnn.py')
SEG = osp.join(TEST_CONFIGS, 'tiny_upernet.py')
PRETRAIN = osp.join(REPO, 'configs', 'quickstart', 'icar-pretrain_swin-tiny_synthetic.py')
WAIT_MS = 120_000  # model loads and forward passes on 2 busy CPU cores

needs_browser = pytest.mark.skipif(
    not osp.exists(CHROMIUM) and not os.environ.get('CI'),
    reason=f'{CHROMIUM} missing (apt-get install chromium; .ci/run installs it, and in CI this test runs)',
)


def demo_app():
    tool_helpers()  # tools/ on sys.path
    import demo_app

    return demo_app


def test_finds_the_trained_models_of_a_work_dir_and_skips_the_rest(tmp_path):
    """Config dumps next to a checkpoint, as mmengine writes them; the iCAR
    pre-trainer (mmdet's scope, not a detector) and checkpoint-less folders
    are left out; a moved work directory still finds its checkpoint."""
    from mmengine.config import Config

    app = demo_app()
    work = tmp_path / 'work'
    for sub, config, checkpoint in (
        ('detector', DET, 'epoch_1.pth'),
        ('detector/test', DET, None),
        ('pretrain', PRETRAIN, 'iter_5.pth'),
    ):
        (work / sub).mkdir(parents=True)
        Config.fromfile(config).dump(str(work / sub / osp.basename(config)))
        if checkpoint:
            (work / sub / checkpoint).write_bytes(b'weights')
            (work / sub / 'last_checkpoint').write_text(f'/elsewhere/{sub}/{checkpoint}')
    found = app.find_models(str(work))
    assert [(e.label, e.task) for e in found] == [('detector (detection, epoch_1.pth)', 'detection')]
    assert found[0].checkpoint == str(work / 'detector' / 'epoch_1.pth')
    assert found[0].config == str(work / 'detector' / osp.basename(DET))


def test_refuses_large_and_undecodable_uploads(tmp_path, det_data):
    app = demo_app()
    image = sorted(glob.glob(osp.join(det_data, 'images', 'val', '*.jpg')))[0]
    assert app.refusal(image, 'detection', max_mb=1) is None
    large = tmp_path / 'large.jpg'
    large.write_bytes(b'\0' * (2 * 2**20))
    assert 'large.jpg is 2.0 MB; this demo takes files of at most 1 MB' in app.refusal(str(large), 'detection', 1)
    text = tmp_path / 'notes.png'
    text.write_text('not an image')
    message = app.refusal(str(text), 'segmentation', 1)
    assert message.startswith('Cannot read image notes.png') and str(tmp_path) not in message
    assert 'a recognition model takes a video' in app.refusal(image, 'recognition', 1)


def test_small_images_are_drawn_enlarged_with_their_masks_and_label_maps():
    import numpy as np
    import torch

    demo_app()  # tools/ on sys.path
    import _drawing as app  # the demo's drawing, shared with the inference tools

    image, resize = app.enlarged(np.zeros((128, 100, 3), np.uint8))
    assert image.shape == (614, 480, 3) and resize.scale == (4.8, 614 / 128)
    masks = torch.zeros(2, 128, 100, dtype=torch.bool)
    masks[0, 10:20, 30:40] = True
    assert resize(masks).shape == (2, 614, 480) and int(resize(masks)[0].sum()) == 48 * 48
    labels = np.zeros((128, 100), np.int64)
    labels[64:] = 3
    assert resize(labels).shape == (614, 480) and (resize(labels) == 3).mean() == 0.5
    assert app.enlarged(np.zeros((600, 800, 3), np.uint8))[1] is None


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """The demo's own folder, with a segmentor checkpoint of random weights given
    to the demo by --model (the detector it finds in the trained detector's work
    directory, as training wrote it: config dump, epoch_1.pth, last_checkpoint)."""
    import torch

    from icar_mm import init_model

    root = tmp_path_factory.mktemp('demo')
    torch.manual_seed(0)
    torch.save({'state_dict': init_model(SEG, device='cpu').state_dict()}, root / 'seg.pth')
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def demo(models, trained_detector):
    """The demo's URL while it runs; the server is stopped afterwards."""
    port = free_port()
    log_path = models / 'server.log'
    env = tool_env(
        GRADIO_TEMP_DIR=str(models / 'gradio'), NO_PROXY='127.0.0.1,localhost', no_proxy='127.0.0.1,localhost'
    )
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                osp.join(REPO, 'tools', 'demo_app.py'),
                '--work-dir',
                str(trained_detector.work_dir.parent),
                '--model',
                SEG,
                str(models / 'seg.pth'),
                '--port',
                str(port),
                '--max-upload-mb',
                '1',
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f'http://127.0.0.1:{port}/'
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.time() + 300
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f'the demo exited ({proc.returncode}):\n{open(log_path).read()[-6000:]}')
            try:
                no_proxy.open(url, timeout=5).close()
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f'the demo did not answer at {url} in 300 s:\n{open(log_path).read()[-6000:]}')
                time.sleep(1)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_browser
def test_demo_detects_typed_classes_and_refuses_bad_uploads(demo, det_data, models):
    from playwright.sync_api import expect, sync_playwright

    url, log_path = demo
    image = sorted(glob.glob(osp.join(det_data, 'images', 'val', '*.jpg')))[0]
    not_an_image = models / 'notes.png'
    not_an_image.write_text('a text file, not an image')
    too_large = models / 'large.png'
    too_large.write_bytes(b'\0' * (2 * 2**20))  # over --max-upload-mb 1

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={'width': 1280, 'height': 1000})
        hosts = set()
        page.on('request', lambda r: hosts.add(r.url.split('/')[2]))
        message = page.locator('#message textarea')
        json_box = page.locator('#labels')

        def upload(path):
            chooser = page.locator('#input input[type=file]')
            if not chooser.count():  # a file is shown: cleared first, as a user would
                page.locator('#input button[aria-label="Clear"]').click()
            chooser.set_input_files(str(path))

        def run(vocabulary):
            page.locator('#vocabulary textarea').fill(vocabulary)
            page.locator('#threshold input[type=number]').fill('0')  # random weights: every box counts
            page.locator('#threshold input[type=number]').press('Enter')
            upload(image)
            expect(message).to_have_value(re.compile('ok, press Run'), timeout=WAIT_MS)
            page.locator('#run').click()
            expect(message).to_have_value(re.compile(r'detections of at least 0; inference'), timeout=WAIT_MS)
            expect(page.locator('#result img')).to_be_visible(timeout=WAIT_MS)
            names = {n.strip() for n in vocabulary.split(',')}
            expect(json_box).to_contain_text(vocabulary.split(', ')[0], timeout=WAIT_MS)
            labels = set(re.findall(r'"label"\s*:\s*"([^"]+)"', json_box.inner_text()))
            assert labels and labels <= names, (labels, names)
            width = page.evaluate("document.querySelector('#result img').naturalWidth")
            assert width >= 480, width  # the 128 px scene is drawn enlarged

        try:
            page.goto(url, timeout=WAIT_MS)
            page.wait_for_selector('#run', timeout=WAIT_MS)
            # the --model segmentor is first; choose the detector found in the work directory
            page.locator('#model input').click()
            page.get_by_role('option', name=re.compile(r'detector \(detection, epoch_1\.pth\)')).click()
            expect(message).to_have_value(re.compile(r'detector \(detection.*(loaded|ready)'), timeout=WAIT_MS)
            expect(page.locator('#vocabulary textarea')).to_have_value(re.compile('red circle'))
            run('red square, hot air balloon')

            # a file that is no image: refused in the page, by the package's reading of it
            upload(not_an_image)
            expect(message).to_have_value(re.compile(r'^Refused: Cannot read image notes\.png'), timeout=WAIT_MS)
            # too large: refused before it reaches the server's handlers
            upload(too_large)
            expect(page.locator('.toast-body').filter(has_text='maximum allowed size')).to_be_visible(timeout=WAIT_MS)
            # bad vocabularies: the package's message, not a traceback
            page.locator('#vocabulary textarea').fill('red square, red square')
            upload(image)
            expect(message).to_have_value(re.compile('ok, press Run'), timeout=WAIT_MS)
            page.locator('#run').click()
            expect(message).to_have_value(re.compile(r"Duplicated class names .*\['red square'\]"), timeout=WAIT_MS)

            # the page still works: another vocabulary, same model
            run('green cross, yellow triangle')

            # and another model: the segmentor's legend names the typed classes
            page.locator('#model input').click()
            page.get_by_role('option', name=re.compile(r'tiny_upernet \(segmentation')).click()
            expect(message).to_have_value(re.compile(r'tiny_upernet.*(loaded|ready)'), timeout=WAIT_MS)
            page.locator('#vocabulary textarea').fill('blue circle, background')
            page.locator('#run').click()
            expect(message).to_have_value(re.compile(r'classes found; inference'), timeout=WAIT_MS)
            labels = set(re.findall(r'"label"\s*:\s*"([^"]+)"', json_box.inner_text()))
            assert labels and labels <= {'blue circle', 'background'}, labels
        except Exception:
            page.screenshot(path=str(models / 'failure.png'), full_page=True)
            raise AssertionError(f'see {models / "failure.png"}; server log:\n{open(log_path).read()[-6000:]}')
        finally:
            browser.close()
    assert hosts == {url.split('/')[2]}, f'the page fetched from elsewhere: {hosts}'
    log = open(log_path).read()
    assert 'Traceback' not in log, log[-6000:]
    assert f'demo running at {url}' in log
