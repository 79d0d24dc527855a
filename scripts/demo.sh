#!/usr/bin/env bash
# The mlcp demo, end to end against the local REAL kube-apiserver (+ etcd, controller-manager) and MLflow:
# start the environment, scaffold a config repo, validate, plan, apply, change a spec, plan again,
# drift the cluster by hand and watch apply heal it. Everything it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MLCP=".venv/bin/mlcp"
KUBECTL="${XDG_CACHE_HOME:-$HOME/.cache}/mlcp/testenv/v1.35.4/kubectl"
WORK="$(mktemp -d -t mlcp-demo-XXXXXX)"
REPO="$WORK/platform-config"

step() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }
cleanup() { step "stopping the local environment"; make --no-print-directory dev-down || true; rm -rf "$WORK"; }
trap cleanup EXIT

step "starting the local environment (kube-apiserver, etcd, kube-controller-manager, MLflow)"
make --no-print-directory dev-up
# shellcheck disable=SC1091
source .mlcp/dev.env

step "mlcp init: a new config repo, committed, with you bound as platform admin"
export GIT_AUTHOR_NAME="Demo Admin" GIT_AUTHOR_EMAIL="admin@demo.example" \
       GIT_COMMITTER_NAME="Demo Admin" GIT_COMMITTER_EMAIL="admin@demo.example"
$MLCP init "$REPO" --admin admin@demo.example
find "$REPO" -name '*.yaml' -path '*tenants*' | sed "s|$REPO/|  |" | sort

step "mlcp validate"
$MLCP validate "$REPO"

step "mlcp validate catches mistakes with file, line and a hint (cpu: lots)"
sed -i 's/requests.cpu: "32"/requests.cpu: lots/' "$REPO/tenants/vision/quota.yaml"
$MLCP validate "$REPO" || echo "(exit $? — as expected)"
git -C "$REPO" checkout -q -- tenants/vision/quota.yaml

step "mlcp plan: what would change in the live cluster and registry"
$MLCP plan "$REPO" || true

step "mlcp apply --yes"
$MLCP apply "$REPO" --yes

step "mlcp plan again: nothing to do (idempotent; a no-op apply sends no writes)"
$MLCP plan "$REPO" --detailed-exitcode && echo "(exit 0: no changes)"

step "a team raises its GPU quota in git"
sed -i 's/requests.nvidia.com\/gpu: "4"/requests.nvidia.com\/gpu: "8"/' "$REPO/tenants/vision/quota.yaml"
git -C "$REPO" commit -qam "vision: 8 GPUs"
$MLCP plan "$REPO" --detailed-exitcode || echo "(exit $? — changes pending, as a CI job would see)"
$MLCP apply "$REPO" --yes

step "someone edits the quota by hand in the cluster (drift)"
"$KUBECTL" patch resourcequota compute -n vision --type merge -p '{"spec":{"hard":{"requests.cpu":"999"}}}'
$MLCP plan "$REPO" || true

step "apply heals the drift"
$MLCP apply "$REPO" --yes
"$KUBECTL" get resourcequota compute -n vision -o jsonpath='{.spec.hard.requests\.cpu}{"\n"}'

step "the plan as a pull-request comment (markdown) and as JSON for machines"
sed -i 's/count\/pods: "100"/count\/pods: "150"/' "$REPO/tenants/nlp/quota.yaml"
$MLCP plan "$REPO" -o markdown || true
$MLCP plan "$REPO" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("summary:", d["summary"])' || true

if $MLCP audit --help >/dev/null 2>&1 && [ -n "${MLCP_AUDIT_LOG:-}" -o -f "$REPO/.mlcp/audit.jsonl" ]; then
  step "the audit log"
  $MLCP audit list || true
  $MLCP audit verify || true
fi

step "done"
