# podman-rpcd: rpcd exec plugin + LuCI pages for Podman image update checks.
#
#   make demo     real Podman + registry, a check through the rpcd protocol
#   make test     every test (Python, Node, browser) on real Podman + registry
#   make lint     ruff format --check + ruff check
#   make bench    side-by-side benchmark, writes bench/RESULTS.md
#   make package  .ipk files into dist/ (no SDK needed)
#   make install  DESTDIR=/some/root lays the router's files out
#   make serve    dev server for the LuCI page against a real Podman

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
DESTDIR ?=
export PYTHONPATH := $(CURDIR)/src

.PHONY: all deps venv demo test test-py test-js lint bench package install serve clean

all: test

deps:
	sh scripts/install-deps.sh

$(VPY): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(VPY)

venv: $(VPY)

demo: deps venv
	$(VPY) demo/demo.py

test: deps venv
	$(VPY) -m pytest -q tests
	$(MAKE) --no-print-directory test-js

test-js:
	@if [ -d tests/js ]; then node --test tests/js/; fi

lint: venv
	$(VPY) -m ruff format --check src tests bench demo
	$(VPY) -m ruff check src tests bench demo

bench: deps venv
	$(VPY) bench/run.py

package: venv
	$(VPY) openwrt-package/build_ipk.py --out dist

install: venv
	$(VPY) openwrt-package/build_ipk.py --install "$(DESTDIR)"

serve: deps venv
	$(VPY) tests/browser/serve.py $(if $(PORT),--port $(PORT))

clean:
	rm -rf $(VENV) dist .pytest_cache
