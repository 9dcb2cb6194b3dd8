# make setup      one idempotent set-up: .venv, torch, mmcv (built once, cached), hosts, icar_mm
# make test       set up if needed, then the whole test suite
# make test-fast  the suite without the slow end-to-end runs
# make quickstart set up if needed, then the main job on the embedded synthetic world: one iCAR
#                 pre-training, then open-vocabulary detection, segmentation and action recognition
#                 with and without it; a summary table, pictures and summary.json
# make benchmark  every benchmark under benchmarks/, then one table of ratios against their baselines
PY := .venv/bin/python
# pytest-xdist: one worker per core, at most 4 (each worker's trainings get an equal share of the cores)
PARALLEL := -n auto --maxprocesses 4 --dist worksteal

.PHONY: setup test test-fast quickstart benchmark

setup:
	scripts/setup.sh

test: setup
	$(PY) -m pytest tests -q $(PARALLEL)

test-fast: setup
	$(PY) -m pytest tests -q $(PARALLEL) -m "not slow"

quickstart: setup
	$(PY) tools/quickstart.py

benchmark: setup
	$(PY) benchmarks/run_all.py
