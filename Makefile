# Two commands for a fresh machine (Python 3.11 and apt are all it needs):
#   make serve   start the service (bentoml serve) on http://localhost:3000
#   make test    run the whole test suite
# Both create .venv from the pinned locks and install Debian's ffmpeg when it is missing;
# serve also installs jemalloc (the model runners' allocator, see docs/deployment.md), the
# tests Node.js (when missing), the openai npm package, promtool, Chromium with its driver,
# and PostgreSQL's server binaries (the tests start throwaway clusters of their own).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 3000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PROMTOOL := $(BIN)/promtool
NODE_CHECKS := tests/node/node_modules/.installed examples/node/node_modules/.installed

.PHONY: serve test build lock ffmpeg jemalloc node chromium postgresql clean

# PyTorch's CPU tensors of ever-changing shapes fragment glibc's heap: runner memory kept
# growing for ten minutes of a soak under glibc and stayed flat under jemalloc
JEMALLOC = $$(ls /usr/lib/*/libjemalloc.so.2 /usr/lib/libjemalloc.so.2 2>/dev/null | head -n 1)
# `make serve ALLOCATOR=` runs on glibc's allocator
ALLOCATOR ?= $(JEMALLOC)

$(INSTALLED): requirements.lock requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "Python 3.11 is required (found $(PYTHON)); set PYTHON=..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock -r requirements-dev.lock
	$(BIN)/python scripts/warm_caches.py   # librosa's numba kernels, compiled once instead of by every process
	touch $@

ffmpeg:
	@command -v ffmpeg >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg; }

jemalloc:
	@[ -n "$(JEMALLOC)" ] || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libjemalloc2; }

# Debian's headless Chromium and its chromedriver, for the studio's browser tests (tests/test_studio.py)
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

# Debian's PostgreSQL, for the tests' throwaway clusters (harness/postgres.py: initdb and
# pg_ctl in a temp folder); the package's own cluster is not used
postgresql:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

node:
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }

# the official openai npm package, for the tests that call the service from Node.js
# (tests/node) and run the Node.js examples (examples/node)
%/node_modules/.installed: %/package-lock.json | node
	npm ci --prefix $* --no-audit --no-fund --loglevel=error
	touch $@

# promtool, which checks and unit-tests the alert rules (deploy/monitoring), taken from Debian's
# prometheus package into the venv: installing the package would also start a Prometheus server
$(PROMTOOL): | $(INSTALLED)
	work="$$(mktemp -d)" && cd "$$work" && { apt-get download prometheus 2>/dev/null || { $(SUDO) apt-get update -qq && apt-get download prometheus; }; } \
	  && dpkg-deb -x prometheus_*.deb . && cp usr/bin/promtool "$(abspath $(PROMTOOL))" && rm -rf "$$work"

serve: $(INSTALLED) ffmpeg jemalloc
	LD_PRELOAD=$(ALLOCATOR) $(BIN)/bentoml serve service:ChatterboxService --port $(PORT)

test: $(INSTALLED) ffmpeg chromium postgresql $(NODE_CHECKS) $(PROMTOOL)
	$(BIN)/python -m pytest

build: $(INSTALLED)
	$(BIN)/bentoml build

lock: $(INSTALLED)
	$(BIN)/python scripts/lock_requirements.py

clean:
	rm -rf $(VENV) .pytest_cache tests/node/node_modules examples/node/node_modules
