# Two commands do everything from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Flags only for what is given (`make run PORT=9000`), so that otherwise each product's own variables
# (AUDIO_LIBRARY_PORT, CHAT_PORT, ...) and defaults apply: docs/development.md#configuration.
SERVE_FLAGS = $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

.PHONY: run run-credentials run-crawler run-chat run-sync run-async stress test test-fast lint types pytest bench clean

# One stamp per set of extras: `make run` installs only what the audio library needs.
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PIP) -e '.[$*]'
	touch $@

$(VENV)/.installed-app: pyproject.toml | $(PY)
	$(PIP) -e .
	touch $@

DEV := $(VENV)/.installed-dev,crawler,chat,syncasync,stress

run: $(VENV)/.installed-app
	$(PY) Flask/server.py $(SERVE_FLAGS) $(if $(LIBRARY),--library $(LIBRARY))

run-credentials:
	$(PYTHON) WSGI/credentials.py $(SERVE_FLAGS)

run-crawler: $(VENV)/.installed-crawler
	$(PY) FastAPI/server.py $(SERVE_FLAGS)

run-chat: $(VENV)/.installed-chat
	$(PY) WebSocket/server.py $(SERVE_FLAGS)

run-sync: $(VENV)/.installed-syncasync
	$(PY) SyncAsync/sync_server.py $(SERVE_FLAGS)

run-async: $(VENV)/.installed-syncasync
	$(PY) SyncAsync/async_server.py $(SERVE_FLAGS)

# Both servers and a local stand-in for open-meteo, loaded by headless locust; CSVs and the plot go to docs/.
stress: $(VENV)/.installed-syncasync,stress
	$(PY) -m SyncAsync.stress --out docs --doc docs/sync-async.md

test: lint types pytest

# The page script's own tests (its pure modules), under Node's built-in runner; no npm packages.
.PHONY: page-js
test: page-js
page-js:
	node --test tests/page_js/*.test.js

# The quick loop: no browser, no long load, no fuzzing.
test-fast: lint types
	$(VENV)/bin/pytest -m "not browser and not slow and not fuzz"

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(DEV)
	$(VENV)/bin/mypy

pytest: $(DEV)
	$(VENV)/bin/pytest

bench: $(DEV)
	@for script in bench/bench_*.py; do name=$${script#bench/}; $(PY) -m bench.$${name%.py} || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
