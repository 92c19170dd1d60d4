# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Fit Chinchilla to the bundled Epoch AI extraction (the 240 runs Epoch kept), with bootstrap
# intervals, the compute-optimal table for 1e21..1e25 FLOPs, a saved fit and a plot.
demo: $(STAMP)
	$(VENV)/bin/scaling fit data/chinchilla/runs.parquet --where "loss < 3.44" \
		--bootstrap 1000 --out out/chinchilla-fit.json --plot out/chinchilla-fit.png
	$(VENV)/bin/scaling predict out/chinchilla-fit.json --params 7e10 --tokens 1.4e12

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/fit_speed.py
	$(PY) bench/bootstrap_speed.py

clean:
	rm -rf $(VENV) out .pytest_cache
