# make setup      one idempotent set-up: .venv, torch, mmcv (built once, cached), hosts, icar_mm
# make test       set up if needed, then the whole test suite
# make test-fast  the suite without the slow end-to-end runs
# make quickstart set up if needed, then the main job: iCAR pre-training + open-vocabulary detection
#                 on the embedded synthetic world, with a summary table
# make benchmark  the benchmarks under benchmarks/
PY := .venv/bin/python

.PHONY: setup test test-fast quickstart benchmark

setup:
	scripts/setup.sh

test: setup
	$(PY) -m pytest tests -q

test-fast: setup
	$(PY) -m pytest tests -q -m "not slow"

quickstart: setup
	$(PY) tools/quickstart.py

benchmark: setup
	for b in text_classifier detection_head segmentation_head recognition_head inmap inmap_effect multilabel_zero_shot; do \
		$(PY) benchmarks/$$b.py || exit 1; done
