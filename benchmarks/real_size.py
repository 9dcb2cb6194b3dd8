"""Every shipped config at its real size, as a user runs it: two training
iterations through tools/train.py and one test image (or clip) through
tools/test.py, on data written in the real dataset's layout at its real
resolution, with the text tower of the real architecture at random init
(RoBERTa-base with a tokenizer trained offline; open_clip ViT-B for the
open_clip configs). Only data paths, pre-trained weight fields, loop lengths
and the log interval are overridden, and with ``--batch`` a training batch
that does not fit the machine's memory.

    python benchmarks/real_size.py                       # every shipped config, frozen and trainable tower
    python benchmarks/real_size.py --quick               # one config per task, its own tower setting
    python benchmarks/real_size.py --batch p244-w877=2   # the README's table (video Swin-B's 8 clips need > 24 GB)
    python benchmarks/real_size.py --device cuda         # the same on a GPU (--gpus N: tools/dist_train.sh)

Per config and tower it reports seconds per training iteration (the second:
the first pays warm-up and, with a frozen tower, the vocabulary's encoding),
seconds for the test image (with a frozen tower; a trained tower tests as
one), peak memory (the process's peak RSS on CPU, mmengine's max allocated on
CUDA), the share of the step spent in the text tower (trainable: 1 - frozen /
trainable step time; frozen: none, its class embeddings are cached) and the ratio of the step time to the host's own
linear-head config of the same architecture, run in the same invocation.
Results are appended to ``--out`` as they come (a rerun skips what is there),
so a long run can be stopped and continued.
"""

import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

TASKS = ('detection', 'segmentation', 'recognition', 'multilabel')
# the host's linear-head config of the same architecture as each of ours (None: no host model)
SWIN_B = dict(embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32])
HOSTS = {
    'mask-rcnn_icar-swin-t': ('mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py', {}),
    'mask-rcnn_icar-swin-b': (
        'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',  # mmdet ships no Swin-B Mask R-CNN: widened
        {**{f'model.backbone.{k}': v for k, v in SWIN_B.items()}, 'model.neck.in_channels': [128, 256, 512, 1024]},
    ),
    'upernet_icar-swin-t': ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py', {}),
    'upernet_icar-swin-b': ('mmseg::swin/swin-base-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py', {}),
    'swin-b-p244-w877_icar': (
        'mmaction::recognition/swin/swin-base-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py',
        {},
    ),
}
QUICK = (
    'detection/mask-rcnn_icar-swin-t_fpn_cosine_1x_ov-coco.py',
    'segmentation/upernet_icar-swin-t_cosine_8xb2-160k_ade20k-512x512.py',
    'recognition/swin-b-p244-w877_icar_cosine_8xb8-amp-32x2x1-30e_kinetics400-rgb.py',
    'multilabel/pvp_vit-b-16_sentences_zs-coco.py',
)
TEXT_ENCODERS = ('icar_mm.ICARTextEncoder', 'icar_mm.HFTextEncoder', 'ICARTextEncoder', 'HFTextEncoder')


def shipped_configs():
    root = osp.join(REPO, 'configs')
    return sorted(osp.relpath(p, root) for t in TASKS for p in glob.glob(osp.join(root, t, '*.py')))


def tested_only(config: str) -> bool:
    """A zero-shot transfer config, run by tools/test.py only (the recognition ones inherit
    their source's training settings); its text tower never trains."""
    return any(tag in osp.basename(config) for tag in ('zero-shot', '_test-'))


def host_of(config: str):
    """-> (label, host config, options) of the host baseline of ``config``, or None."""
    name = osp.basename(config)
    prefix = next((p for p in HOSTS if name.startswith(p)), None)
    if prefix is None:
        return None
    source, options = HOSTS[prefix]
    return (source + (' at Swin-B widths' if options else ''), source, options)


# --- the real text tower, offline ---------------------------------------------------
def roberta_base_dir(root: str) -> str:
    """RoBERTa-base's architecture at random init, its tokenizer trained on the
    shipped vocabularies and templates (the token count per prompt is what the
    16-token context makes it: every prompt is padded to it)."""
    path = osp.join(root, 'roberta-base')
    if osp.isfile(osp.join(path, 'config.json')):
        return path
    from icar_mm.testing import ROBERTA_BASE, write_roberta_dir
    from icar_mm.text.vocabulary import get_templates, load_vocabulary

    names = [n for f in glob.glob(osp.join(REPO, 'icar_mm', 'vocab', '*.json')) for n in load_vocabulary(f).names]
    corpus = [t.format(n) for t in get_templates('imagenet80')[:20] + get_templates('video28') for n in names]
    return write_roberta_dir(path, corpus, tokens=8000, **ROBERTA_BASE)


# --- what a run overrides -------------------------------------------------------------
def weight_overrides(model: dict, tower_dir: str, frozen) -> dict:
    """Dotted options that drop every pre-trained weight field (random init,
    nothing read or downloaded), point HF text towers at ``tower_dir`` and set
    ``frozen`` on text encoders (None: as the config says)."""
    options = {}

    def walk(node, prefix):
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            path = f'{prefix}.{key}'
            if key in ('checkpoint', 'projector_checkpoint', 'pretrained') and isinstance(value, str):
                options[path] = None
                if node.get('pretrained2d'):  # mmaction's Swin would inflate None
                    options[f'{prefix}.pretrained2d'] = False
            elif key == 'init_cfg' and isinstance(value, dict) and value.get('type') == 'Pretrained':
                options[path] = None
            elif isinstance(value, dict):
                walk(value, path)
        if str(node.get('type', '')).endswith('TextEncoder'):
            if node.get('type') in TEXT_ENCODERS:
                options[f'{prefix}.model_path'] = tower_dir
            if frozen is not None:
                options[f'{prefix}.frozen'] = frozen

    walk(model, 'model')
    return options


def loop_overrides(cfg) -> dict:
    """Two training iterations, no validation, a checkpoint at the end."""
    options = {}
    loop = cfg.get('train_cfg') or {}
    if 'max_epochs' in loop:  # the data holds two batches: one epoch is two iterations
        options.update({'train_cfg.max_epochs': 1, 'train_cfg.val_begin': 2, 'default_hooks.checkpoint.interval': 1})
    else:
        # mmengine's iteration loop validates at its last iteration from val_begin on
        options.update({'train_cfg.max_iters': 2, 'train_cfg.val_interval': 10**6, 'train_cfg.val_begin': 10**6})
        options.update({'default_hooks.checkpoint.interval': 2, 'default_hooks.checkpoint.by_epoch': False})
    return options


def as_cli(options: dict) -> list:
    """``--cfg-options`` items, as mmengine's DictAction parses them back."""
    text = {None: 'None'}
    return [
        f'{k}={"[" + ",".join(map(str, v)) + "]" if isinstance(v, list) else text.get(v, v)}'
        for k, v in options.items()
    ]


# --- one run ------------------------------------------------------------------------
def run_measured(cmd, env, log_path):
    """Run ``cmd`` with its output in ``log_path``; -> (exit code, peak RSS MiB, seconds)."""
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, time.perf_counter() - start


def iteration_stats(work_dir: str, phase: str):
    """(times, max memory MiB or None) of the ``phase`` ('train' / 'test')
    iterations mmengine logged (``memory`` is logged on CUDA only)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    times, memory = [], []
    for line in open(logs[-1]) if logs else ():
        if f'({phase})' in line and (found := re.search(r' time: ([\d.]+)', line)):
            times.append(float(found[1]))
            if mem := re.search(r' memory: (\d+)', line):
                memory.append(int(mem[1]))
    return times, max(memory) if memory else None


def resolve(config: str) -> str:
    """A shipped config (relative to configs/) or a host's ``scope::path``, as a file."""
    if '::' in config:
        from mmengine.utils import get_installed_path

        scope, path = config.split('::')
        return osp.join(get_installed_path(scope), '.mim', 'configs', path)
    return osp.join(REPO, 'configs', config)


def run_config(config: str, tower: str, args, root: str, tower_dir: str, source: str, extra: dict) -> dict:
    """Train two iterations (configs with a training loop) and test one sample
    of ``source`` (a shipped config or a host's); ``tower``: 'own' (as
    configured), 'frozen', 'trainable' or 'host'. The row is named ``config``."""
    from real_size_data import write_for_config

    from icar_mm.apis import load_config

    path = resolve(source)
    slug = re.sub(r'[^\w.-]+', '-', osp.splitext(osp.basename(config))[0])
    work = osp.join(root, 'runs', f'{slug}_{tower}')
    os.makedirs(work, exist_ok=True)
    cfg = load_config(path, work)
    cfg.merge_from_dict(extra or {})
    trains = bool(cfg.get('train_cfg')) and bool(cfg.get('train_dataloader')) and not args.test_only
    trains = trains and not tested_only(path)
    batch = config_batch = cfg.train_dataloader.batch_size if trains else 1
    for pattern, size in args.batch:  # where the config's batch does not fit this machine's memory
        if trains and pattern in osp.basename(path):
            batch = size
            extra = {**(extra or {}), 'train_dataloader.batch_size': batch}
    options = dict(extra or {})
    options.update(write_for_config(cfg, osp.join(root, 'data'), 2 * batch, 1))
    frozen = {'frozen': True, 'trainable': False}.get(tower)
    options.update(weight_overrides(cfg.model, tower_dir, frozen))
    if cfg.get('load_from'):  # a whole model to start from (PVP's adapters start from its zero-shot run)
        options['load_from'] = None
    # every iteration logged with its own time (the log processor's default is a running mean)
    options.update({'test_dataloader.batch_size': 1, 'default_hooks.logger.interval': 1})
    if not (cfg.get('default_hooks') or {}).get('logger'):  # test-only configs may name no hooks
        options['default_hooks.logger.type'] = 'LoggerHook'
    options['log_processor.window_size'] = 1
    env = dict(os.environ, PYTHONPATH=REPO)
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    row = dict(config=config, tower=tower, device=args.device, gpus=args.gpus, batch=batch, config_batch=config_batch)
    checkpoint = osp.join(work, 'init.pth')  # configs that never train: the model as built
    if trains:
        launch = ['bash', 'tools/dist_train.sh', path, str(args.gpus)] if args.gpus > 1 else ['tools/train.py', path]
        cmd = ([] if args.gpus > 1 else [sys.executable]) + launch + ['--work-dir', osp.join(work, 'train')]
        code, rss, seconds = run_measured(
            cmd + ['--cfg-options', *as_cli({**options, **loop_overrides(cfg)})], env, osp.join(work, 'train.out')
        )
        times, cuda_mib = iteration_stats(osp.join(work, 'train'), 'train')
        row.update(train_s=times, train_wall_s=seconds, train_peak_mib=cuda_mib or rss)
        if code != 0:
            return dict(row, error=failure(code, osp.join(work, 'train.out')))
        checkpoint = max(glob.glob(osp.join(work, 'train', '*.pth')), key=osp.getmtime)
    else:
        save_initial(path, options, checkpoint)
    if trains and tower == 'trainable':  # in eval mode both towers score with the same cached embeddings
        return row
    cmd = [sys.executable, 'tools/test.py', path, checkpoint, '--work-dir', osp.join(work, 'test')]
    code, rss, seconds = run_measured(cmd + ['--cfg-options', *as_cli(options)], env, osp.join(work, 'test.out'))
    times, cuda_mib = iteration_stats(osp.join(work, 'test'), 'test')
    row.update(test_s=times, test_wall_s=seconds, test_peak_mib=cuda_mib or rss)
    if code != 0:
        row['error'] = failure(code, osp.join(work, 'test.out'))
    return row


def save_initial(path, options, checkpoint):
    """The model as the config builds it (random init), for tools/test.py."""
    import torch
    from mmengine.registry import MODELS, init_default_scope

    from icar_mm.apis import load_config

    cfg = load_config(path, osp.dirname(checkpoint))
    cfg.merge_from_dict(options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)  # in the host's registry, as its default scope says
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)


def failure(code, log, lines=15):
    """What a failed run left: the end of its log, and the signal that ended it."""
    text = ''.join(open(log).readlines()[-lines:])
    if code < 0:  # SIGKILL with nothing logged is the kernel's out-of-memory killer
        text += f'killed by signal {-code}' + (' (out of memory?)' if code == -9 else '') + '\n'
    return text


# --- the table ------------------------------------------------------------------------
def step_time(row):
    """Seconds of the second training iteration (the first pays warm-up)."""
    times = row.get('train_s') or []
    return times[1] if len(times) > 1 else None


def table(rows) -> str:
    """Markdown, a line per config and tower: its step time, test time, peak
    memory, the text tower's share of the step and the ratio to the host."""

    def family(r):  # each host baseline after the configs of its architecture
        own = r['tower'] != 'host' and host_of(r['config'])
        return (own[0] if own else r['config'], r['tower'] == 'host', r['config'])

    by = {(r['config'], r['tower']): r for r in sorted(rows, key=family)}
    lines = [
        '| config | tower | batch | train s/iter | test s | peak GiB | text share | vs host |',
        '|---|---|--:|--:|--:|--:|--:|--:|',
    ]
    for (config, tower), r in by.items():
        step, share, ratio = step_time(r), '-', '-'
        if tower == 'trainable' and step and step_time(by.get((config, 'frozen'), {})):
            share = f'{max(0.0, 1 - step_time(by[config, "frozen"]) / step):.0%}'
        elif tower == 'frozen' and step:
            share = 'cached'
        host = step_time(by.get(((host_of(config) or ('',))[0], 'host'), {}))
        if step and host:
            ratio = f'{step / host:.2f}'
        peak = max(r.get('train_peak_mib') or 0, r.get('test_peak_mib') or 0) / 1024
        test = f'{r["test_s"][0]:.1f}' if r.get('test_s') else ('as frozen' if tower == 'trainable' else '-')
        batch = r['batch'] if r['batch'] == r.get('config_batch', r['batch']) else f'{r["batch"]} ({r["config_batch"]})'
        batch = batch if r.get('train_s') else '-'
        cells = [config, tower, batch, f'{step:.1f}' if step else '-', test, f'{peak:.1f}', share, ratio]
        if r.get('error'):
            cells[3:5] = ['FAILED', '']
        lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    return '\n'.join(lines)


# --- main -----------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*', help='configs under configs/ (default: every shipped one)')
    parser.add_argument('--quick', action='store_true', help='one config per task, its own tower setting')
    parser.add_argument('--towers', nargs='+', default=['frozen', 'trainable'], choices=['own', 'frozen', 'trainable'])
    parser.add_argument('--no-host', action='store_true', help='skip the host linear-head baselines')
    parser.add_argument('--test-only', action='store_true', help='skip training (test iterations only)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--gpus', type=int, default=1, help='processes for training (tools/dist_train.sh)')
    parser.add_argument(
        '--batch',
        nargs='+',
        default=[],
        type=lambda text: (text.rsplit('=', 1)[0], int(text.rsplit('=', 1)[1])),
        metavar='PATTERN=N',
        help="train configs whose file name holds PATTERN at N per process (theirs does not fit this machine's memory)",
    )
    parser.add_argument('--work-dir', default='work_dirs/real_size')
    parser.add_argument('--out', help='results JSON (default: WORK_DIR/results.json); a rerun skips its rows')
    args = parser.parse_args()
    configs = args.configs or (list(QUICK) if args.quick else shipped_configs())
    towers = ['own'] if args.quick else args.towers
    root = osp.abspath(args.work_dir)
    out = args.out or osp.join(root, 'results.json')
    os.makedirs(root, exist_ok=True)
    rows = json.load(open(out)) if osp.exists(out) else []
    done = {(r['config'], r['tower']) for r in rows if not r.get('error')}
    rows = [r for r in rows if (r['config'], r['tower']) in done]
    jobs = []  # the quick configs first, each host baseline right after the first config it serves
    for c in sorted(configs, key=lambda c: c not in QUICK):
        # PVP keeps its CLIP towers frozen by design, and zero-shot configs only test: they run as they are
        jobs += [(c, t, c, {}) for t in (['own'] if c.startswith('multilabel/') or tested_only(c) else towers)]
        host = None if args.no_host else host_of(c)
        if host and all(job[0] != host[0] for job in jobs):
            jobs.append((host[0], 'host', host[1], host[2]))
    tower_dir = roberta_base_dir(root)
    for i, (config, tower, source, extra) in enumerate(jobs, 1):
        if (config, tower) in done:
            continue
        print(f'[{i}/{len(jobs)}] {config} ({tower}) ...', flush=True)
        row = run_config(config, tower, args, root, tower_dir, source, extra)
        for weights in glob.glob(osp.join(root, 'runs', '**', '*.pth'), recursive=True):
            os.remove(weights)  # random-init models (a video Swin-B's is 1.6 GB): only their costs were wanted
        rows.append(row)
        json.dump(rows, open(out, 'w'), indent=1)
        step = step_time(row)
        print(
            f'    {"FAILED: " + row["error"].splitlines()[-1] if row.get("error") else "ok"}'
            f'  train s/iter {step and round(step, 1)}  test s {row.get("test_s")}',
            flush=True,
        )
    print(table(rows))
    print(f'results: {out}; logs: {osp.join(root, "runs")}')
    return 1 if any(r.get('error') for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
