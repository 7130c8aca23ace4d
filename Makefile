# Two commands on a fresh machine: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
# The integration suite runs a second time on PostgreSQL (this machine's, trust auth); pytest-django creates and
# drops the test database. Tests whose subject the database does not change run in the first pass only
# (tests/integration/conftest.py). Each pass prints its slowest tests: the suite must stay under 30 minutes.
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/imageclassifier
TEST_VAR_DIR := $(CURDIR)/var/test
# The upload -> result path once more with FAST_PATHS=off: every library's stock path instead of fastpaths/.
STOCK_PATH_TESTS := tests/integration/test_pipeline.py tests/integration/test_faults.py \
	tests/integration/test_crash_recovery.py

.PHONY: venv browser run test lint bench soak audit clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m classifier.inference.export
	touch $(STAMP)

venv: $(STAMP)

# The browser tests drive Debian's chromium (/usr/bin/chromium). Installed here where apt can (root); elsewhere
# those tests are skipped and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
	      || echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "no chromium, and apt needs root: the browser tests will be skipped"; fi; }

run: venv
	mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py runstack

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: venv lint browser
	rm -rf $(TEST_VAR_DIR)
	VAR_DIR=$(TEST_VAR_DIR) $(PY) -m pytest --durations=15
	VAR_DIR=$(TEST_VAR_DIR) DATABASE_URL=$(POSTGRES_URL) STORAGE_BACKEND=s3 $(PY) -m pytest -m integration --durations=15
	VAR_DIR=$(TEST_VAR_DIR) FAST_PATHS=off $(PY) -m pytest $(STOCK_PATH_TESTS) --durations=5

# Both columns (every fast path on, FAST_PATHS off), then each fast path off on its own. BENCH_ARGS= for the table only.
BENCH_ARGS ?= --each
bench: venv
	$(PY) bench/pipeline.py $(BENCH_ARGS)

# Ten minutes of mixed load while workers are SIGKILLed, the results consumer restarted, the database cut and the
# embedded endpoint restarted (needs this machine's PostgreSQL); exits 1 on any loss. SOAK_MINUTES=2 for a short one.
SOAK_MINUTES ?= 10
soak: venv
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES)

# Known vulnerabilities in the pinned requirements (needs PyPI's JSON API or OSV; reports what it could not check).
audit: venv
	$(PY) -m pip install --quiet pip-audit==2.10.1
	$(PY) -m pip_audit --requirement requirements.txt --progress-spinner off

clean:
	rm -rf var/test .pytest_cache .ruff_cache
