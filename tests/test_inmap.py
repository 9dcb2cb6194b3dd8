"""InMaP vision-proxy refinement: the streamed implementation against a
line-by-line transcription of the published procedure, the class-weights file
it writes, bad inputs, and the command end to end on a tiny detector."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import run_tool


# --- the published procedure, transcribed (classifier as [D, C] columns) -------------
def reference_sinkhorn(M, tau_t=0.01, gamma=0.0, iters=20):
    row, col = M.shape
    P = F.softmax(M / tau_t, dim=1)
    P /= row
    if gamma > 0:
        q = torch.sum(P, dim=0, keepdim=True)
        q = q**gamma
        q /= torch.sum(q)
    for _ in range(iters):
        P /= torch.sum(P, dim=0, keepdim=True)  # columns to 1/col (or q)
        if gamma > 0:
            P *= q
        else:
            P /= col
        P /= torch.sum(P, dim=1, keepdim=True)  # rows to 1/row
        P /= row
    P *= row
    return P


def reference_image_opt(feat, init_classifier, plabel, lr=10, iters=2000, tau_i=0.04, alpha=0.6):
    ins, dim = feat.shape
    val, idx = torch.max(plabel, dim=1)
    mask = val > alpha
    plabel[mask, :] = 0
    plabel[mask, idx[mask]] = 1
    base = feat.T @ plabel
    classifier = init_classifier.clone()
    pre_norm = float('inf')
    for _ in range(iters):
        prob = F.softmax(feat @ classifier / tau_i, dim=1)
        grad = feat.T @ prob - base
        temp = torch.norm(grad)
        if temp > pre_norm:
            lr /= 2.0
        pre_norm = temp
        classifier -= (lr / (ins * tau_i)) * grad
        classifier = F.normalize(classifier, dim=0)
    return classifier


def reference_inmap(feat, text, sinkhorn=False, gamma=0.0, iters=2000, **kw):
    """feat [N, D] and text [C, D] unit rows -> vision proxies [C, D]."""
    logits_t = feat @ text.T
    plabel = reference_sinkhorn(logits_t, 0.01, gamma, 20) if sinkhorn else F.softmax(logits_t / 0.01, dim=1)
    return reference_image_opt(feat, text.T, plabel, iters=iters, **kw).T


# --- synthetic target data: clusters offset from their text proxies --------------------
def offset_clusters(num_classes=6, dim=16, per_class=60, shift=1.0, spread=1.0, seed=0, dtype=torch.float64):
    """Unit features around vision centres away from the text proxies (a gap
    shared by all classes plus a class-specific ``shift``), with noise of norm
    about ``spread``: the text proxies classify them only partly right."""
    g = torch.Generator().manual_seed(seed)

    def unit(*shape):
        return F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)

    text = unit(num_classes, dim)
    centres = F.normalize(text + unit(dim) + shift * unit(num_classes, dim), dim=1)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    noise = torch.randn(len(labels), dim, generator=g, dtype=dtype) * (spread / dim**0.5)
    return F.normalize(centres[labels] + noise, dim=1), labels, text


def accuracy(feats, proxies, labels):
    return float(((feats @ proxies.T).argmax(1) == labels).double().mean())


@pytest.mark.parametrize('sinkhorn,gamma', [(False, 0.0), (True, 0.0), (True, 0.5)])
def test_matches_published_procedure(sinkhorn, gamma):
    from icar_mm.refine import refine_proxies

    feats, _, text = offset_clusters(seed=1)
    ref = reference_inmap(feats, text, sinkhorn=sinkhorn, gamma=gamma, iters=300)
    # chunks smaller than N and not dividing it: the streamed sums must not care
    # (gamma > 0 also takes the path that recomputes the text softmax on each Sinkhorn pass)
    ours = refine_proxies(
        feats, text, sinkhorn=sinkhorn, gamma=gamma, iters=300, chunk_size=47, sinkhorn_cache_mb=0 if gamma else 1024
    )
    torch.testing.assert_close(ours.proxies, ref, atol=1e-9, rtol=0)
    assert ours.final_lr < 10  # the step-size rule did fire
    assert ours.proxies.dtype == torch.float64


def test_published_defaults_and_float32():
    from icar_mm.refine import InMaPConfig, refine_proxies

    feats, _, text = offset_clusters(num_classes=5, per_class=40, seed=2)
    ours = refine_proxies(feats, text, InMaPConfig(chunk_size=128))
    assert ours.config.iters == 2000 and ours.grad_norms.shape == (2000,)
    torch.testing.assert_close(ours.proxies, reference_inmap(feats, text), atol=1e-8, rtol=0)
    # float32 (the published dtype): rounding differs with the summation order, and
    # over thousands of steps it decides the near-ties of the step-size rule that
    # the published loop itself breaks differently in float64; a few hundred steps agree
    f32, t32 = feats.float(), text.float()
    ours32 = refine_proxies(f32, t32, iters=300, chunk_size=64)
    assert ours32.proxies.dtype == torch.float32
    torch.testing.assert_close(ours32.proxies, reference_inmap(f32, t32, iters=300), atol=1e-4, rtol=0)


def test_sinkhorn_pseudo_labels_match_and_balance():
    from icar_mm.refine import pseudo_labels

    feats, _, text = offset_clusters(seed=3)
    logits = feats @ text.T
    ours = pseudo_labels(feats, text, sinkhorn=True, alpha=1.0, chunk_size=50)
    torch.testing.assert_close(ours, reference_sinkhorn(logits.clone()), atol=1e-10, rtol=0)
    plain = pseudo_labels(feats, text, alpha=1.0)
    # balancing moves the class masses towards uniform
    uniform = len(feats) / len(text)
    assert (ours.sum(0) - uniform).abs().max() < (plain.sum(0) - uniform).abs().max()


def test_refinement_improves_offset_clusters_and_weights_load(tmp_path):
    """Refined proxies written as a class-weights file: a classifier built from
    it (or switched to it) predicts differently, and better, than the text
    proxies."""
    from icar_mm.classifier import TextCosineClassifier, load_class_weights
    from icar_mm.refine import refine_proxies, write_class_weights

    # CLIP-like: high-dimensional, low cosines (about 0.1 within a class)
    feats, labels, text = offset_clusters(
        num_classes=20, dim=256, per_class=100, shift=1.5, spread=3.0, seed=1, dtype=torch.float32
    )
    before = accuracy(feats, text, labels)
    result = refine_proxies(feats, text, iters=300)
    after = accuracy(feats, result.proxies, labels)
    assert before < 0.8 and after > before + 0.01, (before, after)

    names = [f'class {i}' for i in range(len(text))]
    text_file, refined_file = tmp_path / 'text.pth', tmp_path / 'refined.pth'
    write_class_weights(str(text_file), names, text, templates=['a photo of a {}.'], enriched=False)
    write_class_weights(str(refined_file), names, result.proxies, refinement=dict(method='inmap'))
    vocab, loaded = load_class_weights(str(refined_file))
    assert vocab.names == tuple(names)
    torch.testing.assert_close(loaded, result.proxies)

    clf = TextCosineClassifier(class_weights=str(text_file)).eval()
    with torch.no_grad():
        pred_text = clf(feats).argmax(1)
        clf.set_class_weights(str(refined_file))
        pred_refined = clf(feats).argmax(1)
        pred_built = TextCosineClassifier(class_weights=str(refined_file)).eval()(feats).argmax(1)
    assert torch.equal(pred_refined, pred_built)
    assert (pred_text != pred_refined).any()
    assert (pred_refined == labels).float().mean() == pytest.approx(after)


def test_bad_inputs_fail_clearly():
    from icar_mm.refine import InMaPConfig, refine_proxies, write_class_weights

    text = F.normalize(torch.randn(4, 8), dim=1)
    with pytest.raises(ValueError, match='N >= 1'):
        refine_proxies(torch.empty(0, 8), text)
    with pytest.raises(ValueError, match="8-d.*after the classifier's projection"):
        refine_proxies(torch.randn(10, 16), text)
    with pytest.raises(ValueError, match='NaN'):
        refine_proxies(torch.full((3, 8), float('nan')), text)
    with pytest.raises(ValueError, match='zero vectors'):
        refine_proxies(torch.zeros(3, 8), text)
    with pytest.raises(ValueError, match='tau_i must be positive'):
        InMaPConfig(tau_i=0)
    with pytest.raises(ValueError, match='do not match the 3 classes'):
        write_class_weights('unused.pth', ['a', 'b', 'c'], text)


def test_class_without_pseudo_labels_is_reported_and_can_be_kept():
    from icar_mm.refine import refine_proxies

    g = torch.Generator().manual_seed(5)
    labels = torch.arange(4).repeat_interleave(30)
    feats = F.normalize(
        F.one_hot(labels, 8).double() + 0.1 * torch.randn(len(labels), 8, generator=g, dtype=torch.float64), dim=1
    )
    # four classes on the data; a fifth between two of them and a sixth opposite to
    # all of it: no feature is pseudo-labelled with either
    text = torch.cat(
        [
            torch.eye(4, 8, dtype=torch.float64),
            F.normalize(torch.tensor([[1.0, 1, 0, 0, 0, 0, 0, 0]], dtype=torch.float64), dim=1),
            -F.normalize(torch.ones(1, 8, dtype=torch.float64), dim=1),
        ]
    )
    with pytest.warns(UserWarning, match=r'2 of 6 classes.*\[4, 5\]'):
        published = refine_proxies(feats, text, iters=100)
    assert published.empty_classes == [4, 5] and published.class_counts[4:].tolist() == [0, 0]
    assert torch.equal(published.class_counts[:4], torch.full((4,), 30))
    # as published, the in-between proxy is pushed away by the features it attracts
    assert float(published.proxies[4] @ text[4]) < 0.99
    with pytest.warns(UserWarning, match='keep their text proxies'):
        kept = refine_proxies(feats, text, iters=100, keep_empty_classes=True)
    torch.testing.assert_close(kept.proxies[4:], text[4:], atol=1e-12, rtol=0)
    # In float32 the sixth class's text softmax underflows to exactly 0 for every
    # feature: the published Sinkhorn divides 0 by 0 there and every label turns
    # NaN; ours leaves that class without mass and balances the others.
    f32, t32 = feats.float(), text.float()
    assert reference_sinkhorn(f32 @ t32.T).isnan().all()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        balanced = refine_proxies(f32, t32, iters=20, sinkhorn=True)
    assert torch.isfinite(balanced.proxies).all() and 5 in balanced.empty_classes


def test_features_are_captured_as_the_classifier_sees_them(tmp_path):
    """The hook yields projected, unit features; background-assigned ones are
    left out; the kept sample is uniform, bounded and deterministic."""
    from icar_mm.classifier import TextCosineClassifier
    from icar_mm.refine import write_class_weights
    from icar_mm.refine.features import FeatureSample, capture_features

    write_class_weights(str(tmp_path / 'w.pth'), [f'c{i}' for i in range(5)], torch.randn(5, 8))
    torch.manual_seed(0)
    clf = TextCosineClassifier(class_weights=str(tmp_path / 'w.pth'), in_channels=12, background='learned').eval()
    inputs = [torch.randn(2, 30, 12) for _ in range(4)]  # e.g. [images, RoIs, channels]
    with torch.no_grad():
        flat = torch.cat(inputs).reshape(-1, 12)
        expected = F.normalize(clf.projection(flat), dim=1)
        foreground = clf(flat).argmax(1) < 5

    def run(capacity, skip_background=True):
        sample = FeatureSample(capacity, seed=0)
        with torch.no_grad(), capture_features([clf], sample, skip_background) as counts:
            for i, x in enumerate(inputs):
                clf(x) if i % 2 else clf(features=x)  # positional or keyword
        return sample.result(), counts

    everything, counts = run(1000, skip_background=False)
    torch.testing.assert_close(everything, expected)  # all of them, in stream order
    kept, counts = run(1000)
    assert counts == dict(seen=240, background=int((~foreground).sum()))
    assert 0 < counts['background'] < 240
    torch.testing.assert_close(kept, expected[foreground])
    few, _ = run(20, skip_background=False)
    again, _ = run(20, skip_background=False)
    assert few.shape == (20, 8) and torch.equal(few, again)
    assert all((expected - row).abs().sum(1).min() < 1e-6 for row in few)
    with pytest.raises(ValueError, match='at least 1'):
        FeatureSample(0)


@pytest.mark.slow
def test_refine_command_on_tiny_detector(tmp_path, trained_detector):
    """Refine the class weights of a trained tiny open-vocabulary detector on
    the unlabeled test images, and evaluate with them."""
    from icar_mm.classifier import load_class_weights
    from icar_mm.datasets.synthetic import ALL_CLASSES

    config, ckpt, options = trained_detector.config, trained_detector.checkpoint, trained_detector.options
    out = tmp_path / 'refined.pth'
    log = run_tool(
        'tools/refine_class_weights.py',
        config,
        ckpt,
        '--out',
        out,
        '--iters',
        '200',
        '--keep-background',
        '--work-dir',
        tmp_path / 'refine',
        '--cfg-options',
        *options,
    )
    assert 'region features' in log and 'refined class weights written' in log, log[-2000:]
    vocab, weights = load_class_weights(str(out))
    assert vocab.names == tuple(ALL_CLASSES)
    data = torch.load(out, weights_only=True)
    assert data['refinement']['method'] == 'InMaP' and data['refinement']['num_features'] > 0
    test_log = run_tool(
        'tools/test.py',
        config,
        ckpt,
        '--class-weights',
        out,
        '--work-dir',
        tmp_path / 'test',
        '--cfg-options',
        *options,
    )
    assert 'coco/novel_ap50' in test_log
