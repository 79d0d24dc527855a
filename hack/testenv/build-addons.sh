#!/usr/bin/env bash
# Build Argo Workflows' workflow-controller and KWOK, and collect the upstream
# manifests the local environment installs (Argo's full CRDs and controller
# RBAC, KServe's InferenceService CRD, KWOK's stock stages), into the per-user
# cache (see docs/testing.md, "Argo Workflows and KWOK").
#
# Why `go install pkg@version` and not build.sh's wrapper module: neither
# module has replace directives, and each pins its own Kubernetes client
# (Argo v4.0.5: client-go v0.33; KWOK v0.8.0: v0.36), which one module graph
# could not hold without changing what upstream tested. `go install` verifies
# every module against the checksum database, so the pin is the exact source.
# Manifests are copied from the same module versions in the Go module cache
# (`go mod download`), never written by hand.
# Each add-on has its own directory and stamp: a second run does nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${here}/versions.env"
root="${MLCP_TESTENV_ADDONS_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/mlcp/testenv}"
argo_dir="${root}/argo-workflows-${ARGO_WORKFLOWS_VERSION}"
kwok_dir="${root}/kwok-${KWOK_VERSION}"
kserve_dir="${root}/kserve-${KSERVE_VERSION}"
# Bump when the layout of the directories below changes.
layout=1

fail() {
  echo "error: $*" >&2
  exit 1
}

up_to_date() { # up_to_date DIR STAMP FILE...
  local dir=$1 stamp=$2 f
  shift 2
  [[ -f "${dir}/VERSION" && "$(cat "${dir}/VERSION")" == "${stamp}" ]] || return 1
  for f in "$@"; do [[ -s "${dir}/${f}" ]] || return 1; done
}

argo_stamp="argo-workflows=${ARGO_WORKFLOWS_VERSION} layout=${layout}"
kwok_stamp="kwok=${KWOK_VERSION} layout=${layout}"
kserve_stamp="kserve=${KSERVE_VERSION} layout=${layout}"
if up_to_date "${argo_dir}" "${argo_stamp}" workflow-controller crds/argoproj.io_workflows.yaml \
  && up_to_date "${kwok_dir}" "${kwok_stamp}" kwok stages/pod-ready.yaml \
  && up_to_date "${kserve_dir}" "${kserve_stamp}" crds/serving.kserve.io_inferenceservices.yaml; then
  echo "testenv: Argo Workflows ${ARGO_WORKFLOWS_VERSION}, KWOK ${KWOK_VERSION}, KServe ${KSERVE_VERSION} CRDs are up to date in ${root}"
  exit 0
fi

command -v go >/dev/null 2>&1 || fail "Go is not installed. Install Go >= 1.26 (KWOK ${KWOK_VERSION} needs it; https://go.dev/doc/install) and retry."

module_dir() { # module_dir MODULE@VERSION: download it, print its directory in the module cache
  local dir
  dir="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "${dir}" ]] || fail "could not download $1: check that the Go module proxy ($(go env GOPROXY)) serves it."
  echo "${dir}"
}

install_bin() { # install_bin OUTDIR NAME PACKAGE@VERSION LDFLAGS
  local out=$1 name=$2 pkg=$3 ldflags=$4 t0 tmp
  t0="$(date +%s)"
  tmp="$(mktemp -d "${out}/.build.XXXXXX")"
  echo ">> go install ${pkg} -> ${out}/${name}"
  GOBIN="${tmp}" CGO_ENABLED=0 go install -trimpath -ldflags "${ldflags}" "${pkg}" \
    || { rm -rf "${tmp}"; fail "building ${pkg} failed (see the compiler output above). Check free disk space in $(go env GOCACHE) and $(go env GOMODCACHE), and that the module proxy ($(go env GOPROXY)) is reachable."; }
  mv -f "${tmp}/$(basename "${pkg%@*}")" "${out}/${name}"
  rm -rf "${tmp}"
  echo "   done in $(($(date +%s) - t0)) s"
}

copy() { # copy SRC_DIR DEST_DIR FILE...: upstream manifests, byte for byte
  local src=$1 dest=$2 f
  shift 2
  mkdir -p "${dest}"
  for f in "$@"; do
    [[ -f "${src}/${f}" ]] || fail "${src}/${f} is missing: has the upstream layout changed? Update hack/testenv/build-addons.sh."
    install -m 0644 "${src}/${f}" "${dest}/$(basename "${f}")"
  done
}

start="$(date +%s)"
mkdir -p "${root}" && cd "${root}"  # outside any Go module: `go install pkg@version` needs none
echo "testenv: GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE)"

if ! up_to_date "${argo_dir}" "${argo_stamp}" workflow-controller crds/argoproj.io_workflows.yaml; then
  echo "testenv: Argo Workflows ${ARGO_WORKFLOWS_VERSION} (workflow-controller, full CRDs, controller RBAC) into ${argo_dir}"
  rm -rf "${argo_dir}" && mkdir -p "${argo_dir}"
  src="$(module_dir "github.com/argoproj/argo-workflows/v4@${ARGO_WORKFLOWS_VERSION}")"
  copy "${src}/manifests/base/crds/full" "${argo_dir}/crds" \
    argoproj.io_clusterworkflowtemplates.yaml argoproj.io_cronworkflows.yaml \
    argoproj.io_workflowartifactgctasks.yaml argoproj.io_workfloweventbindings.yaml \
    argoproj.io_workflows.yaml argoproj.io_workflowtaskresults.yaml \
    argoproj.io_workflowtasksets.yaml argoproj.io_workflowtemplates.yaml
  copy "${src}/manifests" "${argo_dir}/rbac" \
    base/workflow-controller/workflow-controller-sa.yaml \
    cluster-install-no-crds/workflow-controller-rbac/workflow-aggregate-roles.yaml \
    cluster-install-no-crds/workflow-controller-rbac/workflow-controller-clusterrole.yaml \
    cluster-install-no-crds/workflow-controller-rbac/workflow-controller-clusterrolebinding.yaml \
    cluster-install-no-crds/workflow-controller-rbac/workflow-controller-role.yaml \
    cluster-install-no-crds/workflow-controller-rbac/workflow-controller-rolebinding.yaml
  argo_pkg="github.com/argoproj/argo-workflows/v4"
  install_bin "${argo_dir}" workflow-controller "${argo_pkg}/cmd/workflow-controller@${ARGO_WORKFLOWS_VERSION}" \
    "-s -w -X ${argo_pkg}.version=${ARGO_WORKFLOWS_VERSION}"
  echo "${argo_stamp}" > "${argo_dir}/VERSION"
fi

if ! up_to_date "${kwok_dir}" "${kwok_stamp}" kwok stages/pod-ready.yaml; then
  echo "testenv: KWOK ${KWOK_VERSION} (kwok controller, stock fast stages) into ${kwok_dir}"
  rm -rf "${kwok_dir}" && mkdir -p "${kwok_dir}"
  src="$(module_dir "sigs.k8s.io/kwok@${KWOK_VERSION}")"
  copy "${src}/kustomize/stage" "${kwok_dir}/stages" \
    node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml
  install_bin "${kwok_dir}" kwok "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
  echo "${kwok_stamp}" > "${kwok_dir}/VERSION"
fi

if ! up_to_date "${kserve_dir}" "${kserve_stamp}" crds/serving.kserve.io_inferenceservices.yaml; then
  echo "testenv: KServe ${KSERVE_VERSION} InferenceService CRD into ${kserve_dir}"
  rm -rf "${kserve_dir}" && mkdir -p "${kserve_dir}"
  src="$(module_dir "github.com/kserve/kserve@${KSERVE_VERSION}")"
  copy "${src}/config/crd/full" "${kserve_dir}/crds" serving.kserve.io_inferenceservices.yaml
  echo "${kserve_stamp}" > "${kserve_dir}/VERSION"
fi

echo "testenv: add-ons ready in $(($(date +%s) - start)) s"
"${argo_dir}/workflow-controller" version 2>/dev/null | head -1 || true
"${kwok_dir}/kwok" --version 2>/dev/null | head -1 || true
