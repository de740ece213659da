# ketamon — `make run` starts the demo, `make test` runs the whole suite headless.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test fuzz bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)   # checks that Qt can open a window (says what is missing if not); a simulated monitor feeds the demo
	@$(PY) .ci/qt_check.py
	$(PY) -m ketamon feed simulate --to 127.0.0.1:2575 --chair CHAIR3 --patient MRN-100457 >/dev/null 2>&1 & sim=$$!; KETAMON_FEED_LISTEN=1 $(PY) -m ketamon --demo; kill $$sim

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# generated input over every operation, ten times the cases `make test` runs (issue 9)
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -s -p no:cacheprovider tests/test_fuzz_ops.py

bench: $(STAMP)   # figures, never pass/fail; ARGS=--quick for a few minutes (long sessions are cached in /tmp)
	QT_QPA_PLATFORM=offscreen QT_LOGGING_RULES="qt.core.qobject.connect=false" \
		$(PY) benchmarks/bench.py --json benchmarks/results.json $(ARGS)

screenshots: $(STAMP)
	PY=$(PY) bash docs/make_screenshots.sh

clean:
	rm -rf $(VENV) build *.egg-info
