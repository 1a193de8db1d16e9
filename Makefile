# scan2ad: the two commands a newcomer needs are `make demo` and `make test`.
#
# Set-up is uv installing uv.lock exactly (`uv sync --locked`): the versions of every library are
# the ones committed in uv.lock, and a uv.lock that no longer matches pyproject.toml is an error
# (`make lock` re-resolves it). uv's cache (~/.cache/uv, or UV_CACHE_DIR) holds each downloaded
# wheel once per machine, so a second clone links its .venv from it in seconds. uv itself
# (pinned below) is pip-installed from the package index into ~/.cache/scan2ad/uv-<version>
# the first time; nothing is installed into the system Python.

PYTHON      ?= python3
VENV        := .venv
VPY         := $(VENV)/bin/python
CACHE_ROOT  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/scan2ad
UV_VERSION  := 0.13.9
UV_HOME     := $(CACHE_ROOT)/uv-$(UV_VERSION)
UV          := $(UV_HOME)/bin/uv
# optional extras as well: make test EXTRAS="dev ray bench genicam"
EXTRAS      ?= dev ray
PYTEST_ARGS ?=
empty       :=
STAMP       := $(VENV)/.uv-synced-$(subst $(empty) $(empty),-,$(strip $(EXTRAS)))

# bpy's Python (pyproject: requires-python); a machine's own interpreter, never a downloaded one
export UV_PYTHON ?= 3.11
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test test-all setup system-deps lock clean lint

demo: setup
	$(VPY) -P -m scan2ad.cli demo --out demo_out

test: setup
	SCAN2AD_NO_PROGRESS=1 OMP_NUM_THREADS=2 $(VPY) -P -m pytest -q $(PYTEST_ARGS)

test-all: setup
	SCAN2AD_NO_PROGRESS=1 $(VPY) -P -m pytest -q -m "" $(PYTEST_ARGS)

lint: setup
	$(VPY) -P -m ruff check .

setup: $(STAMP)

# uv.lock, pyproject.toml or setup.py changed, another EXTRAS, or no .venv yet: sync the .venv
# (a stamp, not a sync on every run: uv reinstalls bpy at each sync, its wheel's WHEEL file names
# cp39 though the wheel is cp311)
$(STAMP): uv.lock pyproject.toml setup.py | $(UV)
	@bash tools/system_deps.sh
	@# a .venv of the earlier set-up (a .pth into ~/.cache/scan2ad/deps-<hash>) is replaced
	@if ls $(VENV)/.stamp-* >/dev/null 2>&1 || [ -e $(VENV)/lib/python3.11/site-packages/_scan2ad_deps.pth ]; \
	  then echo "replacing $(VENV) of the earlier set-up"; rm -rf $(VENV); fi
	rm -f $(VENV)/.uv-synced-*
	$(UV) sync --locked $(addprefix --extra ,$(EXTRAS))
	touch $@

system-deps:
	@bash tools/system_deps.sh

# re-resolve uv.lock after a change of pyproject.toml's dependency lists (commit both)
lock: $(UV)
	$(UV) lock

$(UV):
	@echo "installing uv $(UV_VERSION) into $(UV_HOME)"
	@mkdir -p "$(CACHE_ROOT)" && tmp=$$(mktemp -d "$(CACHE_ROOT)/.uv-$(UV_VERSION)-XXXXXX") && \
	  if $(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore \
	       --no-warn-script-location --target "$$tmp" "uv==$(UV_VERSION)"; \
	  then mv -T "$$tmp" "$(UV_HOME)" 2>/dev/null || rm -rf "$$tmp"; \
	  else rm -rf "$$tmp"; echo "error: could not pip-install uv $(UV_VERSION) with $(PYTHON)" >&2; exit 1; fi
	@test -x $(UV)

clean:
	rm -rf $(VENV) demo_out build *.egg-info
