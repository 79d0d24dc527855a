# Local real control plane (issue 3; Argo and KWOK: issue 14): included from the top-level Makefile.
# Binaries are built into ${XDG_CACHE_HOME:-~/.cache}/mlcp/testenv/<version>/ (Argo, KWOK and KServe's
# CRD into .../testenv/<project>-<version>/), MLflow's virtualenv into .../mlcp/mlflow/<version>/;
# see docs/testing.md.
.PHONY: testenv testenv-seed mlflow-venv dev-up dev-down dev-status testenv-gomod

testenv: ## Build etcd, Kubernetes, Argo's workflow-controller and KWOK from upstream (cached)
	bash hack/testenv/build.sh
	bash hack/testenv/build-addons.sh

testenv-gomod: ## Regenerate hack/testenv/go.mod+go.sum from the pinned k8s.io/kubernetes go.mod
	bash hack/testenv/gen-gomod.sh

mlflow-venv: install ## Create the cached virtualenv running the pinned MLflow server
	$(BIN)/python -c 'from devenv.mlflowserver import ensure_installed; print(ensure_installed())'

dev-up: install testenv ## Start the local cluster, Argo, KWOK + MLflow in the background; writes .mlcp/dev.env
	$(BIN)/python -m devenv up --state-dir .mlcp

dev-down: ## Stop everything dev-up started
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m devenv down --state-dir .mlcp; \
	else echo "devenv: nothing to stop (no .venv)"; fi

dev-status: install ## Show the running dev environment (kubeconfigs, MLflow URI, pids)
	$(BIN)/python -m devenv status --state-dir .mlcp

testenv-seed: install testenv ## Install the CRDs once into a cached etcd seed (and make MLflow's virtualenv)
	$(BIN)/python -m devenv build

# make test: build the servers, the CRD seed and MLflow's virtualenv first, with their progress
# visible (inside pytest the fixtures would do it too, but silently).
test: testenv testenv-seed mlflow-venv
