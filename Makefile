# shopseq: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GX_ANALYTICS_ENABLED := false
export DVC_NO_ANALYTICS := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: setup test test-fast demo cluster-demo repro lock clean

setup: $(STAMP)

$(STAMP): requirements.in constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -r requirements.in
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	# Like `activate`: any process this venv's Python starts (dvc running `shopseq run ...`) finds
	# the venv's commands, so `.venv/bin/dvc repro` works from a shell that did not activate it.
	echo "import os, sys; os.environ['PATH'] = os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable)] + os.environ.get('PATH', '').split(os.pathsep)))" \
		> $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/shopseq_venv_path.pth
	$(BIN)/pip check
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest tests

test-fast: setup
	$(BIN)/python -m pytest tests -m "not slow"

# The port check runs before the install: a busy SHOPSEQ_AIRFLOW_PORT fails in a second, not
# after minutes of pip (unset, the demo picks free ports itself and says which).
demo:
	$(PYTHON) -I src/shopseq/ops/ports.py
	$(MAKE) setup
	$(BIN)/shopseq demo

# The demo on a cluster brought up on this machine (PostgreSQL, Redis, an MLflow server, Airflow on
# Celery with two workers) and torn down after it; writes reports/cluster_demo_summary.json.
cluster-demo: setup
	$(BIN)/shopseq demo --cluster

repro: setup
	# The pipeline only: benchmarks/dvc.yaml regenerates the committed results (dvc repro in benchmarks/).
	$(BIN)/dvc repro dvc.yaml

lock:
	$(BIN)/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/' > constraints.txt

clean:
	rm -rf $(VENV) airflow mlflow .shopseq_cache
