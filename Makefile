# make setup      one idempotent set-up: .venv, torch, mmcv (built once, cached), hosts, icar_mm
# make test       set up if needed, then the whole test suite
# make test-fast  the suite without the slow end-to-end runs
# make demo       set up if needed, then the main job (smallest end-to-end train + test)
# make benchmark  the benchmarks under benchmarks/
PY := .venv/bin/python

.PHONY: setup test test-fast demo benchmark

setup:
	scripts/setup.sh

test: setup
	$(PY) -m pytest tests -q

test-fast: setup
	$(PY) -m pytest tests -q -m "not slow"

demo: setup
	$(PY) tools/demo.py

benchmark: setup
	$(PY) benchmarks/text_classifier.py
	$(PY) benchmarks/detection_head.py
