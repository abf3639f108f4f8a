# Everything a fresh machine needs: `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp

.PHONY: all test demo bench bench-peers install system-deps clean

all: test

# System packages (Debian): graphviz's `dot` renders drawings; chromium runs the browser tests;
# Open MPI runs cr.distributed.
# Installed only if missing.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing Debian package graphviz (for the dot renderer)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq graphviz >/dev/null; }
	@# chromium: the headless browser of the playground tests (they skip only if this fails)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian package chromium (for the headless browser tests)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium >/dev/null; } || echo "note: chromium could not be installed: browser tests will skip"; }
	@# Open MPI (mpirun + headers for building mpi4py) for cr.distributed and its tests.
	@{ command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1; } || { \
	  echo "installing Debian packages openmpi-bin libopenmpi-dev (for cr.distributed)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null; }

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,all,fast,distributed]'
	touch $(STAMP)

install: system-deps $(STAMP)

test: install
	$(PY) -m pytest -q -n 2 tests

demo: install
	$(PY) -m chainrule demo

bench: install
	$(PY) -m benchmarks

# Optional peers for the benchmark table (PyTorch CPU, JAX); `make bench` uses them when present.
bench-peers: install
	$(PY) -m pip install -q torch==2.13.0 jax jaxlib

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
