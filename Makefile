# mlcp developer tasks. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install lint test unit schemas docs rbac demo bench fuzz clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv with mlcp and its development tools

lint: install ## ruff, mypy --strict, import-linter, and stale-schema/docs/ClusterRole check
	$(BIN)/ruff check controlplane reconciler devenv tests benchmarks
	$(BIN)/ruff format --check controlplane reconciler devenv tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/mlcp schema --check schemas
	$(BIN)/python -m controlplane.specdocs --check docs/specs.md
	$(BIN)/python -m controlplane.deployrbac --check deploy/kustomize/base/clusterrole.yaml

schemas: install ## Regenerate schemas/*.json from the spec models
	$(BIN)/mlcp schema --write schemas

docs: install ## Regenerate docs/specs.md (the spec reference) from the spec models
	$(BIN)/python -m controlplane.specdocs docs/specs.md

rbac: install ## Regenerate mlcp's deploy ClusterRole, tenant roles and admission policies from the spec kinds' declarations
	$(BIN)/python -m controlplane.deployrbac deploy/kustomize/base/clusterrole.yaml

unit: install ## Unit tests only (no servers)
	$(BIN)/pytest -m 'not integration'

test: lint ## Lint, then the full suite including integration tests against real servers
	$(BIN)/pytest

fuzz: install ## 10,000 hostile repos through mlcp validate, 20 through real reconcile passes; prints the count and the slowest case
	$(BIN)/python -m tests.fuzz --cases 10000 --passes 20

bench: install ## Run the benchmarks (prints ratios against peers)
	$(BIN)/python benchmarks/validate.py

demo: install ## Run the end-to-end demo against the local real cluster and registry
	./scripts/demo.sh

clean: ## Remove the virtualenv and caches (not the cached server binaries)
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

-include hack/testenv/testenv.mk
-include hack/chromium.mk
