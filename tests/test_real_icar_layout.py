"""Checkpoints in the iCAR authors' real layout (see ``real_layout.py``: built
with Hugging Face, timm and ``tokenizers``, never with our own modules) load in
all three tasks and give what the authors' code and the reference libraries give."""

import argparse
import logging
import os.path as osp
import re

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    TEST_CONFIGS,
    TINY_TOWER,
    data_root_options,
    detection_options,
    initialised,
    run_tool,
    video_options,
)
from real_layout import SWIN

LONG_PROMPT = (
    'a photo of a red circle, a round flat shape of a warm colour like that of blood '
    'or ripe strawberries, drawn on a plain grey background'
)


@pytest.fixture(scope='session')
def icar(tmp_path_factory):
    from real_layout import write_real_layout

    return write_real_layout(str(tmp_path_factory.mktemp('real_icar')))


def authors_text_forward(icar, prompts):
    """A direct transcription of the authors' ``LModel.forward`` and their
    prompt handling (``forward_clshead``): lower-case, 16 tokens, masked mean,
    float32 projection."""
    from transformers import RobertaTokenizer

    tokenizer = RobertaTokenizer.from_pretrained(icar['roberta_dir'])
    batch = tokenizer([p.lower() for p in prompts], padding=True, truncation=True, max_length=16, return_tensors='pt')
    with torch.no_grad():
        latents = icar['roberta'](**batch, return_dict=False)[0]
        mask = batch['attention_mask'].unsqueeze(-1)
        pooled = (latents * mask).sum(1) / mask.sum(1)
        return F.linear(pooled.float(), icar['projector'].weight.float())


def icar_swin(**kwargs):
    from icar_mm.models import ICARSwin

    return ICARSwin(
        embed_dims=SWIN['embed_dim'],
        depths=list(SWIN['depths']),
        num_heads=list(SWIN['num_heads']),
        window_size=SWIN['window_size'],
        drop_path_rate=0.0,
        **kwargs,
    )


def icar_swin3d(**kwargs):
    from icar_mm.models import ICARSwin3D

    arch = dict(embed_dims=SWIN['embed_dim'], depths=list(SWIN['depths']), num_heads=list(SWIN['num_heads']))
    return ICARSwin3D(
        arch=arch,
        patch_size=(2, 4, 4),
        window_size=(2, SWIN['window_size'], SWIN['window_size']),
        drop_path_rate=0.0,
        **kwargs,
    )


# --- text ------------------------------------------------------------------------------
class Recorded(logging.Handler):
    """Collects the messages of mmengine's current logger while in a ``with``."""

    def __enter__(self):
        from mmengine.logging import MMLogger

        self.messages, self.logger = [], MMLogger.get_current_instance()
        self.logger.addHandler(self)
        return self.messages

    def __exit__(self, *exc):
        self.logger.removeHandler(self)

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_text_embeddings_equal_the_authors_forward(icar):
    from icar_mm.text import ICARTextEncoder

    encoder = initialised(ICARTextEncoder(model_path=icar['roberta_dir'], checkpoint=icar['full']))
    prompts = ['A Photo of a Red Circle.', 'a video of a person juggling balls.', LONG_PROMPT, 'tree']
    with Recorded() as messages:
        with torch.no_grad():
            ours = encoder(prompts)
        encoder(prompts)
    torch.testing.assert_close(ours, authors_text_forward(icar, prompts), atol=1e-6, rtol=1e-6)
    assert ours.dtype == torch.float32 and ours.shape == (4, 256)
    # the long prompt is cut at 16 tokens (so its embedding is its first 16 tokens')
    torch.testing.assert_close(encoder([LONG_PROMPT]), encoder([LONG_PROMPT + ' and more words']))
    warnings = [m for m in messages if 'longer than its 16-token context' in m]
    assert len(warnings) == 1, warnings  # said once
    assert re.search(
        r'\d of 4 prompts are longer .* the longest has \d+ tokens: .a photo of a red circle, a round', warnings[0]
    )


def test_hugging_face_weights_in_model_path_are_read_when_training_starts(icar, tmp_path):
    """Without a checkpoint, the weights transformers saved in ``model_path`` load in ``init_weights``
    (as the Runner calls it), never when the encoder is built."""
    import shutil

    from icar_mm.text import ICARTextEncoder

    model_path = str(tmp_path / 'roberta-with-weights')
    shutil.copytree(icar['roberta_dir'], model_path)
    icar['roberta'].save_pretrained(model_path)  # transformers' own writer: model.safetensors
    saved = icar['roberta'].state_dict()
    encoder = ICARTextEncoder(model_path=model_path)
    built = encoder.tower.transformer.state_dict()
    assert any(not torch.equal(built[k], v) for k, v in saved.items()), 'built from config.json alone'
    encoder.init_weights()
    loaded = encoder.tower.transformer.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())


def test_text_half_loads_and_image_half_says_what_it_lacks(icar):
    from icar_mm.checkpoints import CheckpointError
    from icar_mm.text import ICARTextEncoder

    text = initialised(ICARTextEncoder(model_path=icar['roberta_dir'], checkpoint=icar['text_half']))
    torch.testing.assert_close(
        text(['a blue square']), authors_text_forward(icar, ['a blue square']), atol=1e-6, rtol=1e-6
    )
    with pytest.raises(
        CheckpointError,
        match=r'icar_image\.pth holds no text tower \(sentence_model\.\*\): '
        r'it is the image half',
    ):
        ICARTextEncoder(model_path=icar['roberta_dir'], checkpoint=icar['image_half']).init_weights()
    with pytest.raises(CheckpointError, match=r'icar_text\.pth holds no image tower.*text half'):
        icar_swin(checkpoint=icar['text_half']).init_weights()
    from icar_mm.text import OpenCLIPTextEncoder

    with pytest.raises(CheckpointError, match='holds a Hugging Face.*OpenCLIPTextEncoder.*ICARTextEncoder'):
        OpenCLIPTextEncoder(TINY_TOWER, checkpoint=icar['full']).init_weights()


# --- image -----------------------------------------------------------------------------
def test_swin_features_equal_timm_from_the_same_weights(icar):
    ours = icar_swin(checkpoint=icar['full'], out_indices=(3,))
    ours.init_weights()
    ours.eval()
    x = torch.randn(2, 3, 256, 256)  # the last stage (8 x 8) larger than the window: timm shifts it too
    with torch.no_grad():
        expected = icar['swin'].forward_features(x)  # NHWC, after the final norm
        got = ours(x)[-1].permute(0, 2, 3, 1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_video_swin_equals_mmaction_inflation_of_the_renamed_weights(icar, tmp_path):
    from mmaction.models.backbones import SwinTransformer3D

    # the authors' own three renames, as their inflate_weights does them
    renamed = {}
    for k, v in icar['model'].items():
        if k.startswith('visual_model.backbone.'):
            k = (
                k.replace('rel_pos_embed_table', 'relative_position_bias_table')
                .replace('relative_coords', 'relative_position_index')
                .replace('.channel_reduction.', '.reduction.')
            )
            renamed[k[len('visual_model.backbone.') :]] = v
    torch.save({'model': renamed}, tmp_path / 'renamed.pth')
    arch = dict(embed_dims=SWIN['embed_dim'], depths=list(SWIN['depths']), num_heads=list(SWIN['num_heads']))
    torch.manual_seed(0)
    ref = SwinTransformer3D(
        arch=arch,
        patch_size=(2, 4, 4),
        window_size=(2, 4, 4),
        drop_path_rate=0.0,
        pretrained=str(tmp_path / 'renamed.pth'),
        pretrained2d=True,
    )
    ref.init_weights()
    torch.manual_seed(0)
    ours = icar_swin3d(checkpoint=icar['full'])
    ours.init_weights()
    expected, got = ref.state_dict(), ours.state_dict()
    assert got.keys() == expected.keys()
    assert [k for k in expected if not torch.equal(got[k], expected[k])] == []


def test_recognition_head_loads_the_projector(icar, tmp_path):
    from icar_mm.checkpoints import CheckpointError
    from icar_mm.models import TextCosineRecognitionHead

    head = TextCosineRecognitionHead(
        in_channels=8 * SWIN['embed_dim'],
        classifier=dict(
            text_encoder=dict(type='ICARTextEncoder', model_path=icar['roberta_dir'], checkpoint=icar['full']),
            vocabulary='synthetic',
            templates='video28',
            enriched=False,
            projection=True,
            projector_checkpoint=icar['full'],
        ),
    )
    head.init_weights()
    assert torch.equal(head.classifier.projection.weight, icar['visual_projector'].weight)
    head.classifier.projector_checkpoint = icar['text_half']
    with pytest.raises(CheckpointError, match=r'holds no image projector.*text half'):
        head.classifier.init_weights()
    wrong = TextCosineRecognitionHead(
        in_channels=64,
        classifier=dict(
            text_encoder=dict(type='ICARTextEncoder', model_path=icar['roberta_dir'], checkpoint=icar['text_half']),
            vocabulary='synthetic',
            projector_checkpoint=icar['full'],
        ),
    )
    with pytest.raises(CheckpointError, match=r'visual_model\.projector\.weight is \(256, 256\).*\(256, 64\)'):
        wrong.init_weights()


# --- files -----------------------------------------------------------------------------
def test_args_namespace_and_safetensors_read(icar, tmp_path):
    from safetensors.torch import save_file

    from icar_mm.checkpoints import read_checkpoint

    ckpt = read_checkpoint(icar['full'])
    assert isinstance(ckpt['args'], argparse.Namespace) and ckpt['args'].text_model == 'roberta-base'
    path = str(tmp_path / 'icar.safetensors')
    save_file({k: v.contiguous() for k, v in icar['model'].items()}, path)
    ours = icar_swin(checkpoint=path, out_indices=(3,))
    ours.init_weights()
    reference = icar_swin(checkpoint=icar['full'], out_indices=(3,))
    reference.init_weights()
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in ours.state_dict().items())


class NotPlainData:
    pass


def test_bad_files_name_the_file_and_the_keys(icar, tmp_path):
    from icar_mm.checkpoints import CheckpointError

    data = open(icar['full'], 'rb').read()
    (tmp_path / 'truncated.pth').write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r'truncated\.pth.*truncated or corrupt'):
        icar_swin(checkpoint=str(tmp_path / 'truncated.pth')).init_weights()
    torch.save({'model': icar['model'], 'args': NotPlainData()}, tmp_path / 'pickled.pth')
    with pytest.raises(CheckpointError, match=r"Refused to load .*pickled\.pth.*\['model'\]"):
        icar_swin(checkpoint=str(tmp_path / 'pickled.pth')).init_weights()
    with pytest.raises(
        CheckpointError,
        match=r'(?s)icar_swin48\.pth.*shape mismatch.*patch_embed\.projection\.weight: '
        r'checkpoint \(48, 3, 4, 4\) vs model \(32, 3, 4, 4\)',
    ):
        icar_swin(checkpoint=icar['other_size']).init_weights()
    with pytest.raises(CheckpointError, match=r'(?s)icar_swin48\.pth.*video Swin.*size mismatch'):
        icar_swin3d(checkpoint=icar['other_size']).init_weights()


def test_our_export_speaks_the_authors_layout(tmp_path):
    """The pre-training export uses the authors' names, and the authors' own
    renames turn it back into a Swin that mmaction's inflation reads."""
    from test_quickstart import build_pretrainer

    model, cfg = build_pretrainer()
    path = str(tmp_path / 'ours.pth')
    model.export_icar(path)
    sd = torch.load(path)['model']
    image = [k for k in sd if k.startswith('visual_model.backbone.')]
    assert any(k.endswith('.attn.rel_pos_embed_table') for k in image)
    assert any('.downsample.channel_reduction.' in k for k in image)
    assert any(k.endswith('.attn.relative_coords') for k in image)
    assert not any(k.startswith('visual_model.backbone.stages.') for k in image)
    assert 'visual_model.projector.weight' in sd and any(k.startswith('sentence_model.') for k in sd)


# --- inspection and the three tasks end to end ----------------------------------------------
def test_inspect_checkpoint_reports_parts_and_what_each_config_loads(icar):
    def inspect(path, task):
        config, options = icar_options(icar, task)
        return run_tool('tools/inspect_checkpoint.py', path, config, '--cfg-options', *options)

    out = inspect(icar['full'], 'segmentation')
    assert 'icar layout' in out and 'also holds args, epoch' in out
    assert 'text tower:      Hugging Face (RoBERTa-style), width 32, 2 layers' in out
    assert 'image tower:     Swin: embed_dims 32, depths [2, 2, 2, 2], heads [1, 2, 4, 8], window 4' in out
    assert 'image projector: Linear(256 -> 256, no bias)' in out
    assert 'backbone: loads' in out and 'decode_head.classifier.text_encoder: loads' in out
    assert 'decode_head.classifier.projection: starts fresh' in out and 'starts fresh: decode_head' in out
    out = inspect(icar['full'], 'action')
    assert 'backbone: loads' in out and 'cls_head.classifier.projection: loads 1 tensors' in out
    out = inspect(icar['text_half'], 'segmentation')
    assert 'image tower:     none' in out and 'backbone: CANNOT LOAD' in out and 'text half' in out


# where each tiny_icar_* config names the checkpoint (backbone, text encoder, projector)
FIELDS = dict(
    detection=('tiny_icar_mask_rcnn.py', 'model.roi_head.bbox_head.classifier', ()),
    segmentation=('tiny_icar_upernet.py', 'model.decode_head.classifier', ()),
    action=(
        'tiny_icar_video_swin.py',
        'model.cls_head.classifier',
        ('model.cls_head.classifier.projector_checkpoint',),
    ),
)


def icar_options(icar, task):
    config, classifier, more = FIELDS[task]
    keys = ('model.backbone.checkpoint', f'{classifier}.text_encoder.checkpoint', *more)
    return osp.join(TEST_CONFIGS, config), [f'{k}={icar["full"]}' for k in keys] + [
        f'{classifier}.text_encoder.model_path={icar["roberta_dir"]}'
    ]


@pytest.mark.slow
@pytest.mark.parametrize('task', ['detection', 'segmentation', 'action'])
def test_each_task_trains_and_tests_from_the_real_layout(task, icar, det_data, seg_data, video_data, tmp_path):
    config, fields = icar_options(icar, task)
    if task == 'action':
        data = video_options(video_data)
    else:
        data = detection_options(det_data) if task == 'detection' else data_root_options(seg_data)
    work = tmp_path / task
    out = run_tool('tools/train.py', config, '--work-dir', work, '--cfg-options', *fields, *data)
    assert re.search(
        r'Loaded text encoder: \d+ tensors .*left out as intended: visual_model.*'
        r'embeddings.position_ids',
        out,
    ), out[-3000:]
    assert re.search(r'(Loaded Swin backbone|Inflated video Swin backbone).* \d+ tensors', out)
    if task == 'action':
        assert 'Loaded image projector visual_model.projector.weight' in out
    checkpoint = max(work.glob('*.pth'), key=osp.getmtime)
    # the same config (model_path names the tokenizer); the trained weights then replace the iCAR ones
    out = run_tool(
        'tools/test.py', config, checkpoint, '--work-dir', tmp_path / 'test', '--cfg-options', *fields, *data
    )
    assert dict(detection='coco/novel_ap50', segmentation='mIoU', action='acc/top1')[task] in out
