# Dark Knowledge — the two commands a learner needs:
#   make lab    set up .venv (first time only) and open JupyterLab on lessons/
#   make test   set up .venv (first time only) and run every test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
# Tests run in JOBS processes (pytest-xdist), a test file per process at a time: a notebook's cells
# stay together. Most tests drive one kernel, so two processes use both cores of a small machine.
# JOBS=0 runs everything in one process (read a failure's output in order).
JOBS ?= 2
XDIST := $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadfile)
# The grading and smoke runs are one file of one-notebook tests each: by file, one process would
# get them all and the other core would idle. Test by test instead, one at a time (the smoke run
# lists the longest notebooks first, so that both processes finish together).
XDIST_EACH := $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist load --maxschedchunk 1)
# One thread per process when several run: two processes with torch's default threads each on a
# 2-core machine oversubscribe it, and a teacher that trains in 4 minutes took 24.
THREADS := $(if $(filter 0,$(JOBS)),,OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1})
LAB_ARGS ?=
# torch: without an NVIDIA GPU, the CPU-only build from PyTorch's CPU wheel index (a .venv of about
# 2 GB instead of about 6.4 GB with the CUDA build). Override: `make lab TORCH_INDEX=` for PyPI's
# default build, or another index (e.g. https://download.pytorch.org/whl/cu126).
HAS_NVIDIA := $(or $(wildcard /proc/driver/nvidia/version),$(shell command -v nvidia-smi 2>/dev/null))
TORCH_INDEX ?= $(if $(HAS_NVIDIA),,https://download.pytorch.org/whl/cpu)

.PHONY: lab test test-slow test-grading test-smoke build setup clean

setup: $(STAMP)

# torch first, from TORCH_INDEX, unless torch is already there or pinned by a constraints file
# (CI pins a CPU build that lies on its disk and cannot reach PyTorch's index); then the course,
# whose `torch>=2.2` the installed torch satisfies. An index that cannot be reached (a network
# that allows PyPI only) is checked for first: pip would retry it five times for every package.
export REACHABLE := import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)
# What installs the course into .venv: pip. (CI passes uv's pip here, which installs the same
# packages in about a third of the time; see .ci/run.)
PIP_INSTALL ?= $(PY) -m pip install
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course and its dependencies into $(VENV) (first time: a few minutes)..."
	@if [ -n "$(TORCH_INDEX)" ] && ! $(PY) -c "import torch" >/dev/null 2>&1 && \
	    ! grep -qs '^torch==' "$${PIP_CONSTRAINT:-/dev/null}"; then \
	  if $(PY) -c "$$REACHABLE" "$(TORCH_INDEX)/torch/" >/dev/null 2>&1; then \
	    echo "No NVIDIA GPU found: installing the CPU build of torch from $(TORCH_INDEX) (TORCH_INDEX= to change)"; \
	    $(PY) -m pip install --quiet --extra-index-url $(TORCH_INDEX) "torch>=2.2" || exit 1; \
	  else \
	    echo "No NVIDIA GPU found, but $(TORCH_INDEX) cannot be reached from here: torch comes from"; \
	    echo "PyPI instead (its default build: about 3 GB more, for CUDA libraries this machine does not use)."; \
	  fi; \
	fi
	$(PIP_INSTALL) --quiet -e ".[lab,test]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# jupyter/jupyter_lab_config.py: serve lessons/, open lesson 00 (the printed URL too), and the
# course's settings overrides (no news pop-up). --allow-root only when running as root (e.g. in a
# container); JupyterLab refuses root otherwise.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --config="$(CURDIR)/jupyter/jupyter_lab_config.py" $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# Every solution notebook executed by nbval (first: it fills the course cache with the `ci`
# teachers the grading tests then share), unit tests, exercise checks, lesson/solution sync,
# every lesson run unsolved, lessons 00-01 graded in the sandbox, all offline in the `ci` profile.
# pytest's exit code 5 ("no tests collected") is not a failure of the course.
# TEST_MARKS: which tests `make test` runs; CI leaves out the results tests here (`and not
# slow`), because it runs them at the `cpu` size right after, in `make test-slow`.
TEST_MARKS ?= not grading_all and not gpu_shapes
test: $(STAMP)
	@COURSE_PROFILE=$${COURSE_PROFILE:-ci} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	 MPLBACKEND=Agg PYTHONHASHSEED=0 $(THREADS) \
	 $(PY) -m pytest solutions tests --nbval-lax --nbval-current-env -p no:cacheprovider $(XDIST) \
	   -m "$(TEST_MARKS)" -o console_output_style=count --durations=15 $(PYTEST_ARGS); \
	 rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# Every lesson after 01 graded as an instructor would, in the sandbox: the solution gets full
# marks (`make test` grades lessons 00-01's releases to zero as well, and runs every release
# unsolved). Minutes; CI runs it after `make test`, whose course cache (teachers) it shares.
test-grading: $(STAMP)
	@COURSE_PROFILE=ci HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	 MPLBACKEND=Agg PYTHONHASHSEED=0 $(THREADS) \
	 $(PY) -m pytest tests/test_grading_lessons.py -m grading_all -p no:cacheprovider $(XDIST_EACH) \
	   --durations=10 $(PYTEST_ARGS)

# Every solution notebook at `gpu` shapes on the CPU, with only the counts cut (COURSE_SMOKE=1):
# a `gpu` size that cannot work fails here, not on a learner's T4. Minutes; CI runs it.
test-smoke: $(STAMP)
	@HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0 $(THREADS) \
	 $(PY) -m pytest tests/test_smoke_gpu.py -m gpu_shapes -p no:cacheprovider $(XDIST_EACH) -s --durations=14 $(PYTEST_ARGS)

# The results tests at the laptop (`cpu`) size, asserting what the lessons' prose claims:
# minutes, not seconds (teachers trained once, cached). CI runs it after `make test`.
# The longest files first, so that two processes finish together (then every other test file:
# pytest keeps the order of files named one by one, not of a folder's; --no-loadscope-reorder
# keeps pytest-xdist from reordering the files by their number of tests). Lesson 10 first: it
# trains lesson 05's `cpu` teacher, which 06, 07 and 09-12 then load, while the other process
# runs 02 and 08, which need no language teacher; 12 before 11 (12 builds the fingerprinted
# provider both use). Measured durations are in docs/benchmarks.md.
SLOW_FIRST := tests/test_results_lesson10.py tests/test_results_lesson02.py \
              tests/test_results_lesson08.py tests/test_results_lesson12.py \
              tests/test_results_lesson06.py tests/test_results_lesson11.py \
              tests/test_results_lesson09.py tests/test_results_lesson07.py
test-slow: $(STAMP)
	@COURSE_PROFILE=cpu HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	 MPLBACKEND=Agg PYTHONHASHSEED=0 $(THREADS) \
	 $(PY) -m pytest $(SLOW_FIRST) $(filter-out $(SLOW_FIRST),$(sort $(wildcard tests/test_*.py))) -m slow -p no:cacheprovider $(XDIST) $(if $(XDIST),--no-loadscope-reorder,) --durations=15 $(PYTEST_ARGS)

# Rebuild lessons/ from solutions/.
build: $(STAMP)
	$(VENV)/bin/course build

clean:
	rm -rf $(VENV) .course_cache .pytest_cache
