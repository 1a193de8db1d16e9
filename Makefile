# scan2ad: the two commands a newcomer needs are `make demo` and `make test`.
#
# Set-up is shared and stamped so reruns are fast:
#  - third-party dependencies install once per dependency set into a cache folder keyed by the
#    hash of pyproject.toml's dependency lists (default ~/.cache/scan2ad/deps-<hash>), so a second
#    clone on the same machine reuses them;
#  - each clone gets its own light .venv that sees that folder through a .pth file and holds the
#    editable install of this checkout.

PYTHON      ?= python3
VENV        := .venv
VPY         := $(VENV)/bin/python
CACHE_ROOT  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/scan2ad
DEPS_HASH   := $(shell $(PYTHON) tools/deps.py hash)
DEPS_DIR    := $(CACHE_ROOT)/deps-$(DEPS_HASH)
STAMP       := $(VENV)/.stamp-$(DEPS_HASH)
PYTEST_ARGS ?=

.PHONY: demo test test-all setup system-deps clean lint

demo: $(STAMP)
	$(VPY) -P -m scan2ad.cli demo --out demo_out

test: $(STAMP)
	SCAN2AD_NO_PROGRESS=1 OMP_NUM_THREADS=2 $(VPY) -P -m pytest -q $(PYTEST_ARGS)

test-all: $(STAMP)
	SCAN2AD_NO_PROGRESS=1 $(VPY) -P -m pytest -q -m "" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VPY) -P -m ruff check .

setup: $(STAMP)

system-deps:
	@bash tools/system_deps.sh

# no file prerequisites: the folder name carries the hash of the dependency lists
$(DEPS_DIR)/.complete:
	@bash tools/system_deps.sh
	$(PYTHON) tools/deps.py install "$(DEPS_DIR)"

$(STAMP): $(DEPS_DIR)/.complete setup.py
	@bash tools/system_deps.sh
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PYTHON) tools/deps.py link "$(DEPS_DIR)" "$(VENV)"
	$(VPY) -m pip install -q "setuptools>=68" wheel
	$(VPY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

clean:
	rm -rf $(VENV) demo_out build *.egg-info
