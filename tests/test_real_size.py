"""Mixed precision, as the real-size configs run: mmengine's AmpOptimWrapper on
the CPU (bfloat16 autocast), with the cosine logits kept in float32."""

import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from conftest import TEST_CONFIGS, TINY_TEXT_ENCODER, data_root_options, detection_options, video_options


def test_cosine_logits_stay_float32_under_bfloat16_autocast():
    """Scaled cosines of bfloat16 features: the classifier's logits equal the
    float32 computation on the same (bfloat16) inputs, where the same
    arithmetic done in bfloat16 is off by a large fraction of a logit."""
    from icar_mm.classifier import TextCosineClassifier

    torch.manual_seed(0)
    classifier = TextCosineClassifier(
        text_encoder=TINY_TEXT_ENCODER, vocabulary='synthetic', in_channels=48, logit_scale=100.0
    ).eval()
    features = torch.randn(64, 48)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        projected = classifier.projection(features)
        logits = classifier.logits(projected, classifier.class_embeddings())
        naive = 100.0 * F.normalize(projected, dim=-1) @ classifier.class_embeddings().to(torch.bfloat16).t()
    assert projected.dtype == torch.bfloat16 and logits.dtype == torch.float32
    with torch.no_grad():
        exact = 100.0 * F.normalize(projected.float(), dim=-1) @ classifier.class_embeddings().t()
    torch.testing.assert_close(logits, exact, rtol=0, atol=1e-4)
    assert (naive.float() - exact).abs().max() > 0.05  # what float32 avoids


TASKS = {  # config, data fixture, its options, a short loop, the head whose classifier owns the text tower
    'detection': ('tiny_ov_mask_rcnn.py', 'ov_det_data', detection_options, {'max_epochs': 1}, 'roi_head.bbox_head'),
    'segmentation': ('tiny_upernet.py', 'seg_data', data_root_options, {'max_iters': 2}, 'decode_head'),
    'recognition': ('tiny_video_swin.py', 'video_data', video_options, {'max_epochs': 1}, 'cls_head'),
}


@pytest.mark.slow
@pytest.mark.parametrize('task', TASKS)
def test_amp_configs_train_in_bfloat16_on_the_cpu(task, request, tmp_path):
    """tools/train.py --amp's optimizer wrapper (mmengine's AmpOptimWrapper) on
    the CPU: the backbone's convolutions and matmuls run in bfloat16, every cosine head scores in float32,
    the losses are finite and a trainable text tower gets finite gradients."""
    from mmengine.optim import AmpOptimWrapper

    from icar_mm.apis import build_runner, load_config
    from icar_mm.classifier import iter_classifiers

    config, data, options, loop, head = TASKS[task]
    cfg = load_config(osp.join(TEST_CONFIGS, config), str(tmp_path))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options(request.getfixturevalue(data))))
    cfg.merge_from_dict({f'train_cfg.{k}': v for k, v in dict(loop, val_interval=100).items()})
    cfg.merge_from_dict({f'model.{head}.classifier.text_encoder.frozen': False})
    cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale = 'AmpOptimWrapper', 'dynamic'  # what --amp sets
    cfg.optim_wrapper.dtype = 'bfloat16'  # also where this CPU emulates it (see the next test)
    runner = build_runner(cfg)
    dtypes = {'patch embedding': set(), 'logits': set()}
    runner.model.backbone.patch_embed.register_forward_hook(
        lambda m, i, out: dtypes['patch embedding'].add((out[0] if isinstance(out, tuple) else out).dtype)
    )
    for classifier in iter_classifiers(runner.model):
        classifier.register_forward_hook(lambda m, i, out: dtypes['logits'].add(out.dtype))
    losses = []
    runner.model.register_forward_hook(lambda m, i, out: losses.append(out) if isinstance(out, dict) else None)
    tower = runner.model.get_submodule(f'{head}.classifier.text_encoder')
    before = {k: v.clone() for k, v in tower.state_dict().items()}
    runner.train()
    assert isinstance(runner.optim_wrapper, AmpOptimWrapper)  # built by train()
    assert torch.bfloat16 in dtypes['patch embedding'], dtypes
    assert dtypes['logits'] == {torch.float32}, dtypes
    values = [v for out in losses for v in out.values()]
    assert values and all(torch.isfinite(torch.as_tensor(v if not isinstance(v, list) else sum(v))) for v in values)
    after = tower.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the trainable tower was updated


@pytest.mark.parametrize('slowdown', [1.0, 400.0])
def test_amp_trains_in_float32_where_the_cpu_emulates_bfloat16(slowdown, monkeypatch):
    """Where bfloat16 matmuls are many times slower than float32 (a CPU without
    bfloat16 instructions), an AmpOptimWrapper with no dtype runs its steps in
    float32; elsewhere, or with dtype='bfloat16', in bfloat16."""
    from mmengine.optim import AmpOptimWrapper

    import icar_mm.compat

    monkeypatch.setattr(icar_mm.compat, 'bfloat16_slowdown', lambda: slowdown)
    model = torch.nn.Linear(8, 8)

    def step_dtype(**options):
        wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **options)
        with wrapper.optim_context(model):
            return model(torch.randn(2, 8)).dtype

    assert step_dtype() == (torch.float32 if slowdown > 4 else torch.bfloat16)
    assert step_dtype(dtype='bfloat16') == torch.bfloat16
