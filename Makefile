# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test docs notebooks bench gpu-check install clean

# The libraries every fitted number depends on, brought to their newest releases at every install
# (a fresh venv gets them anyway; an old one re-installing does too), so `make test` checks the
# numbers against what a new user gets. tests/test_releases.py checks that nothing pins them.
NEWEST := numpy scipy pandas pyarrow lmfit matplotlib

# torch: the CPU build 2.13.0 first where no torch is present (an unpinned torch would pull a
# multi-GB CUDA build); the `ladder` extra's range accepts it and any torch already installed.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || \
		$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[ladder,test,docs]"
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade $(NEWEST)
	touch $(STAMP)

install: $(STAMP)

# 1. Fit Chinchilla to the bundled Epoch AI extraction (the 240 runs Epoch kept), with bootstrap
#    intervals, the compute-optimal table for 1e21..1e25 FLOPs, a saved fit and a plot.
#    Then the planning report for a 1e24-FLOP run: out/plan-1e24/report.md and report.html.
# 2. Fit the multi-power law to the bundled CPU schedule ladder (constant, cosine, WSD curves of
#    one model) and compare the final loss of constant, cosine and WSD schedules it predicts.
# 3. Train the cpu-tiny ladder (about 6 minutes on 2 cores; --resume picks up an interrupted one):
#    per size one warmup-stable run and a cooldown branch for each of 4 token budgets. Backtest
#    Chinchilla fitted on the branches of all sizes but the largest against the largest's
#    branches ("not stable": a stable run's last row is not an annealed, Chinchilla-style point).
# 4. Downstream accuracy: step 2 of the task law fitted on the Pythia models up to 1.4B predicts
#    the 2.8B-12B models' LAMBADA accuracy from their task loss; the two-step task law fitted on
#    the bundled CPU ladder with tasks predicts its largest rung on every task, in points.
demo: $(STAMP)
	$(VENV)/bin/scaling fit data/chinchilla/runs.parquet --where "loss < 3.44" \
		--bootstrap 1000 --out out/chinchilla-fit.json --plot out/chinchilla-fit.png
	$(VENV)/bin/scaling predict out/chinchilla-fit.json --params 7e10 --tokens 1.4e12
	$(VENV)/bin/scaling plan --flops 1e24 --fit out/chinchilla-fit.json \
		--runs data/chinchilla/runs.parquet --where "loss < 3.44" --inference-tokens 1e13 \
		--out-dir out/plan-1e24
	$(VENV)/bin/scaling fit data/cpu_schedules/runs.parquet --law multipower --where "step > 100" \
		--bootstrap 100 --out out/multipower-fit.json --plot out/multipower-fit.png
	$(VENV)/bin/scaling predict out/multipower-fit.json --every 25 \
		--compare "peak=3e-3,warmup=60,steps=1200,final=3e-4" --plot out/schedules.png
	$(VENV)/bin/scaling ladder run ladders/specs/cpu-tiny.toml --out out/cpu-tiny.parquet --resume
	$(VENV)/bin/scaling backtest out/cpu-tiny.parquet --law chinchilla \
		--train "width < 96 and not stable" --test "width == 96 and not stable" \
		--json out/cpu-tiny-backtest.json
	$(VENV)/bin/scaling backtest data/pythia_evals/zero-shot.parquet --law task-accuracy \
		--task lambada_openai --set skip_by=tokens --where "deduped == 0" \
		--train "params < 2e9" --json out/pythia-lambada-backtest.json
	$(VENV)/bin/scaling backtest data/cpu_tasks/runs.parquet --task all \
		--train "width < 96 and not stable" --test "width == 96 and not stable" \
		--json out/cpu-tasks-backtest.json

# The manual (docs/, mkdocs.yml) built with --strict: a broken link, a page missing from the nav or
# a docstring warning fails it. The site goes to site/ (not committed).
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

docs: $(STAMP)
	$(MKDOCS) build --strict --site-dir site

# The manual built, the tests, and every notebook executed top to bottom (nbmake).
test: $(STAMP)
	$(MKDOCS) build --strict -q --site-dir site
	$(PY) -m pytest -q tests --nbmake notebooks

# Run every notebook and store its outputs (tables, figures) in the .ipynb: after editing a
# notebook's .py, so readers see current results without running anything.
notebooks: $(STAMP)
	$(PY) notebooks/store_outputs.py

bench: $(STAMP)
	$(PY) bench/fit_speed.py
	$(PY) bench/bootstrap_speed.py
	$(PY) bench/train_throughput.py
	$(PY) bench/branches.py
	$(PY) bench/multipower_speed.py
	$(PY) bench/calibration.py

# The GPU check (bench/gpu_check.py): GPU tests, 124M throughput and MFU against a plain loop, a
# short branched ladder and its backtest, in one JSON summary (out/gpu-check.json); under 8 minutes
# on one GPU. `$(PY) bench/gpu_check.py --dry-run` prints the plan on a machine without one.
# The plan (pool, recipe, rungs) prints first; the `+` runs it under `make gpu-check --dry-run` too.
gpu-check: $(STAMP)
	+$(PY) bench/gpu_check.py --dry-run
	$(PY) bench/gpu_check.py --out out/gpu-check.json

clean:
	rm -rf $(VENV) out site .pytest_cache
