# Entry points: make serve | test | lint | protos | check-protos | freeze-v1 | bench
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROTO_FILES := $(wildcard protos/trackwire/v1/*.proto)
STUB_DIR := client/trackwire/v1
V1_IMAGE := trackwire-v1.binpb

.PHONY: venv protos check-protos test lint mlflow-venv freeze-v1 serve bench bench-compare clean

venv: $(VENV)/.installed

# A local virtual environment with Trackwire (editable) and its dev tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The server's reflection v1 messages (grpcio-reflection has v1alpha only), from gRPC's proto.
SERVER_GEN := server/trackwire_server/generated
REFLECTION_V1 := protos/grpc/reflection/v1/reflection.proto

define GEN_STUBS
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(1) --pyi_out=$(1) --grpc_python_out=$(1) $(PROTO_FILES) && \
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(1) --pyi_out=$(1) $(REFLECTION_V1)
endef

# Regenerate the Python stubs from protos/ into the client package (and the server's
# reflection v1 messages into its generated/ folder).
protos: venv
	rm -f $(STUB_DIR)/*_pb2*.py $(STUB_DIR)/*_pb2*.pyi $(SERVER_GEN)/reflection_pb2.py*
	@tmp=$$(mktemp -d) && $(call GEN_STUBS,$$tmp) && cp $$tmp/trackwire/v1/*_pb2* $(STUB_DIR)/ && \
	cp $$tmp/grpc/reflection/v1/reflection_pb2.py* $(SERVER_GEN)/ && rm -rf $$tmp

# Fail if the committed stubs differ from what `make protos` would write.
check-protos: venv
	@tmp=$$(mktemp -d) && $(call GEN_STUBS,$$tmp) && \
	if diff -r $$tmp/trackwire/v1 $(STUB_DIR) >/dev/null && \
	  diff $$tmp/grpc/reflection/v1/reflection_pb2.py $(SERVER_GEN)/reflection_pb2.py >/dev/null; \
	then echo "stubs are fresh"; rm -rf $$tmp; \
	else diff -r $$tmp/trackwire/v1 $(STUB_DIR) | head -20; rm -rf $$tmp; \
	echo "stubs are stale: run 'make protos' and commit"; exit 1; fi

# The whole suite, on SQLite and on PostgreSQL and MariaDB: those at
# TRACKWIRE_TEST_POSTGRES_URL / TRACKWIRE_TEST_MYSQL_URL (CI sets them), else at their default
# local ports when they answer there (tests/conftest.py), else skipped with the reason.
test: venv check-protos browser mlflow-venv
	$(PY) -m pytest $(PYTEST_ARGS)

# MLflow 3.17 in a venv of its own (its pins clash with ours), as `make bench-compare` makes
# it: tests/test_import_mlflow.py fills a real MLflow server through MLflow's own client.
MLFLOW_VENV := bench/.venvs/mlflow
MLFLOW_PIN := mlflow==3.17.2
mlflow-venv:
	@if [ "$$(cat $(MLFLOW_VENV)/.bench-compare-installed 2>/dev/null)" != "$(MLFLOW_PIN)" ]; then \
	  rm -rf $(MLFLOW_VENV) && $(PYTHON) -m venv $(MLFLOW_VENV) && \
	  $(MLFLOW_VENV)/bin/pip install -q --disable-pip-version-check $(MLFLOW_PIN) && \
	  echo $(MLFLOW_PIN) > $(MLFLOW_VENV)/.bench-compare-installed || \
	  echo "MLflow could not be installed: tests/test_import_mlflow.py will be skipped"; fi

# The web UI tests drive Debian's Chromium (Playwright never downloads a browser here). It is
# installed with the system's package manager when missing and allowed (root with apt-get);
# otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq chromium; } || \
	echo "chromium is missing and cannot be installed here: the web UI tests will be skipped"

lint: venv
	$(VENV)/bin/ruff check client server tests bench
	$(VENV)/bin/ruff format --check client server tests bench
	cd protos && ../$(VENV)/bin/buf lint
	cd protos && ../$(VENV)/bin/buf breaking --against $(V1_IMAGE)

# trackwire.v1 as released (README: How the contract evolves). Rebuilt only when v1 gains
# additions, never to let a breaking change through.
freeze-v1: venv
	cd protos && ../$(VENV)/bin/buf build -o $(V1_IMAGE)

# The server on the embedded default: SQLite file + local artifact folder.
serve: venv
	$(VENV)/bin/trackwire server $(SERVE_ARGS)

bench: venv
	$(PY) bench/ingest.py && $(PY) bench/search.py && $(PY) bench/registry.py && $(PY) bench/models.py && $(PY) bench/ui.py && $(PY) bench/auth.py && $(PY) bench/serving.py && $(PY) bench/import_mlflow.py && $(PY) bench/direct_transfer.py && $(PY) bench/feed_latency.py

# Trackwire against MLflow, Aim and W&B offline, side by side (bench/README.md). Creates the
# peers' pinned venvs under bench/.venvs/, writes bench/results/compare.*, rewrites the README's
# Performance table. BENCH_COMPARE_ARGS='--repeats 2' repeats every workload A/B/A/B;
# BENCH_COMPARE_ARGS='--db postgresql' (or mysql) runs both on that database, W6 over 1 and 3
# servers, into bench/results/compare-<db>.* (README untouched).
bench-compare: venv
	$(PY) bench/compare/main.py $(BENCH_COMPARE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
