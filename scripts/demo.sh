#!/usr/bin/env bash
# The mlcp demo, end to end against the local REAL kube-apiserver (+ etcd, controller-manager, scheduler,
# Argo's workflow-controller, KWOK's fake nodes) and MLflow:
# start the environment, scaffold a config repo with SIGNED commits (everyone gets an SSH signing key),
# validate, plan, apply (the operator names the first trusted base), pipeline runs with `mlcp run` as their
# own users (RBAC decides), a refused self-grant, an approval that counts, change a spec, drift the cluster by hand and watch apply heal it, then the reconcile loop.
# Everything it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MLCP=".venv/bin/mlcp"
KUBECTL="${XDG_CACHE_HOME:-$HOME/.cache}/mlcp/testenv/v1.35.4/kubectl"
WORK="$(mktemp -d -t mlcp-demo-XXXXXX)"
REPO="$WORK/platform-config"

step() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }
cleanup() { step "stopping the local environment"; make --no-print-directory dev-down || true; rm -rf "$WORK"; }
trap cleanup EXIT

step "starting the local environment (etcd, kube-apiserver, controller-manager, scheduler, Argo's workflow-controller, KWOK, MLflow)"
make --no-print-directory dev-up
# shellcheck disable=SC1091
source .mlcp/dev.env

step "everyone signs their commits: SSH signing keys for the admin, an ML lead and Carol (nlp's owner)"
mkdir -p "$WORK/keys"
for who in admin lead carol; do ssh-keygen -q -t ed25519 -N "" -C "$who" -f "$WORK/keys/$who"; done
ls "$WORK/keys"
export GIT_AUTHOR_NAME="Demo Admin" GIT_AUTHOR_EMAIL="admin@demo.example" \
       GIT_COMMITTER_NAME="Demo Admin" GIT_COMMITTER_EMAIL="admin@demo.example"
# as NAME EMAIL KEY git ...: run git as someone else, signing with their key
as() {
  local name=$1 email=$2 key=$3; shift 3
  GIT_AUTHOR_NAME="$name" GIT_AUTHOR_EMAIL="$email" GIT_COMMITTER_NAME="$name" GIT_COMMITTER_EMAIL="$email" \
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=user.signingkey GIT_CONFIG_VALUE_0="$WORK/keys/$key" "$@"
}

step "mlcp init: a new config repo, committed, with you bound as platform admin and your key trusted"
GIT_CONFIG_COUNT=3 GIT_CONFIG_KEY_0=gpg.format GIT_CONFIG_VALUE_0=ssh \
GIT_CONFIG_KEY_1=user.signingkey GIT_CONFIG_VALUE_1="$WORK/keys/admin" \
GIT_CONFIG_KEY_2=commit.gpgsign GIT_CONFIG_VALUE_2=true \
  $MLCP init "$REPO" --admin admin@demo.example --signing-key "$WORK/keys/admin.pub"
git -C "$REPO" config gpg.format ssh
git -C "$REPO" config user.signingkey "$WORK/keys/admin"
git -C "$REPO" config commit.gpgsign true
find "$REPO" -name '*.yaml' -path '*tenants*' | sed "s|$REPO/|  |" | sort
grep -E 'requireSignedCommits|allowedSignersFile' "$REPO/policies/access.yaml"

step "the admin trusts the ML lead's and Carol's keys (a signed commit to policies/allowed_signers)"
printf 'ml-lead@example.com namespaces="git" %s\ncarol@example.com namespaces="git" %s\n' \
  "$(cut -d' ' -f1,2 "$WORK/keys/lead.pub")" "$(cut -d' ' -f1,2 "$WORK/keys/carol.pub")" >> "$REPO/policies/allowed_signers"
# each tenant's artifact root in the demo's bucket: experiments write, and promotions serve, only from there
printf 'artifacts:\n  roots: ["s3://mlcp-demo-models/{tenant}/"]\n' >> "$REPO/mlcp.yaml"
git -C "$REPO" commit -qam "trust the ML lead's and Carol's signing keys; each tenant's artifact root"
git -C "$REPO" -c gpg.ssh.allowedSignersFile=policies/allowed_signers log --format='  %h %G? %GS: %s' -2
BASE=$(git -C "$REPO" rev-parse HEAD)

step "mlcp validate"
$MLCP validate "$REPO"

step "mlcp validate catches mistakes with file, line and a hint (cpu: lots)"
sed -i 's/requests.cpu: "32"/requests.cpu: lots/' "$REPO/tenants/vision/quota.yaml"
$MLCP validate "$REPO" || echo "(exit $? — as expected)"
git -C "$REPO" checkout -q -- tenants/vision/quota.yaml

step "mlcp plan without a trusted base: nothing was applied yet, so mlcp refuses to let the repo judge itself"
$MLCP plan "$REPO" || echo "(exit $? — as expected: the first committer is never trusted by default)"

step "mlcp plan --trusted-base: the operator vouches for the reviewed revision; its policy judges"
$MLCP plan "$REPO" --trusted-base "$BASE" | head -30 || true

step "mlcp apply --yes --trusted-base (later applies are judged by the last applied revision)"
$MLCP apply "$REPO" --yes --trusted-base "$BASE"

step "a training pipeline logs runs in vision/detector (made by that apply) and registers vision-detector v1, v2 (staging -> v2)"
.venv/bin/python scripts/seed_demo_registry.py "$MLFLOW_TRACKING_URI"

step "the promotion waits for a model approver (four eyes, required by the policy): ml-lead approves, signed"
as "ML Lead" ml-lead@example.com lead $MLCP approve "$REPO/tenants/vision/promotions/detector-production.yaml"
git -C "$REPO" -c gpg.ssh.allowedSignersFile=policies/allowed_signers log -1 --format='  %h %G? %GS: %(trailers:key=Mlcp-Approve,valueonly)' 
$MLCP apply "$REPO" --yes
python3 - "$MLFLOW_TRACKING_URI" <<'PY'
import json, sys, urllib.request
uri = sys.argv[1].rstrip("/")
with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/registered-models/alias?name=vision-detector&alias=production") as r:
    v = json.load(r)["model_version"]
print(f"vision-detector@production -> version {v['version']}; tags: " + ", ".join(f"{t['key']}={t['value']}" for t in v.get("tags", []) if t["key"].startswith("mlcp")))
PY

step "people run pipelines as themselves: the admin signs Bob's (vision member) and Mallory's (nobody) client certificates"
# user_kubeconfig EMAIL: a client certificate for EMAIL signed by the cluster through Kubernetes' own CSR API,
# in a kubeconfig of its own (the API server and its CA from the admin's, none of the admin's credentials)
user_kubeconfig() {
  local who=$1 csr="demo-${1//[@.]/-}" file="$WORK/$1.kubeconfig" admin cert
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$who" \
    -keyout "$WORK/$who.key" -out "$WORK/$who.csr" 2>/dev/null
  $KUBECTL apply -f - >/dev/null <<EOF
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $csr}
spec:
  request: $(base64 -w0 < "$WORK/$who.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
EOF
  $KUBECTL certificate approve "$csr" >/dev/null
  for _ in $(seq 60); do
    cert=$($KUBECTL get csr "$csr" -o jsonpath='{.status.certificate}') && [ -n "$cert" ] && break
    sleep 0.5
  done
  base64 -d <<<"$cert" > "$WORK/$who.crt"
  admin=$($KUBECTL config view --minify -o jsonpath='{.users[0].name}')
  $KUBECTL config view --raw --minify --flatten > "$file"
  $KUBECTL --kubeconfig "$file" config unset "users.$admin" >/dev/null
  $KUBECTL --kubeconfig "$file" config set-credentials "$who" --embed-certs \
    --client-certificate="$WORK/$who.crt" --client-key="$WORK/$who.key" >/dev/null
  $KUBECTL --kubeconfig "$file" config set-context --current --user="$who" >/dev/null
  echo "$file"
}
BOB=$(user_kubeconfig bob@example.com)
MALLORY=$(user_kubeconfig mallory@example.com)
$KUBECTL get csr -o custom-columns=NAME:.metadata.name,USER:.spec.username,CONDITION:.status.conditions[0].type | grep -E 'NAME|demo-'

step "Bob runs vision's training pipeline from its governed WorkflowTemplate: mlcp run --watch (Argo's controller, KWOK's nodes)"
$MLCP run train-detector --repo "$REPO" --kubeconfig "$BOB" --param epochs=3 --watch

step "Mallory has no role in vision: the API server refuses her run (RBAC decides, not mlcp)"
$MLCP run train-detector --repo "$REPO" --kubeconfig "$MALLORY" || echo "(exit $? — as expected)"

step "Bob writes his own Workflow (his own template, the trainer's account): refused by mlcp's shipped admission policy (new, for safety: people's runs name a governed template and its parameters only)"
if $KUBECTL --kubeconfig "$BOB" create -n vision -f - <<'YAML' 2>&1 | sed 's/^/  /'; then echo "unexpected: the API server took it"; exit 1; else echo "(refused, as expected)"; fi
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: my-own-}
spec:
  entrypoint: main
  serviceAccountName: mlcp-trainer
  templates:
    - name: main
      container: {image: busybox, command: [sh, -c, "cat /var/run/secrets/*"]}
YAML

step "a parameter the pipeline does not declare is a usage error, before anything is submitted"
$MLCP run train-detector --repo "$REPO" --kubeconfig "$BOB" --param learning.rate=1 || echo "(exit $? — as expected)"

step "the run as JSON, for scripts; runs are operations: they stay in the cluster, mlcp never plans or prunes them"
$MLCP run train-detector --repo "$REPO" --kubeconfig "$BOB" --watch -o json \
  | .venv/bin/python -c 'import json,sys; d=json.load(sys.stdin); print(d["name"], d["phase"], "as", d["submittedAs"], [(s["name"], s["phase"]) for s in d["steps"]])'
$KUBECTL get workflows -n vision

step "mlcp plan again: nothing to do (idempotent, and the runs are not desired state; a no-op apply sends no writes)"
$MLCP plan "$REPO" --detailed-exitcode && echo "(exit 0: no changes)"

step "Carol (nlp's owner) adds herself to the platform team and raises vision's GPUs in the same commit: refused"
sed -i 's/      - admin@demo.example/      - admin@demo.example\n      - carol@example.com/' "$REPO/policies/access.yaml"
sed -i 's/requests.nvidia.com\/gpu: "4"/requests.nvidia.com\/gpu: "64"/' "$REPO/tenants/vision/quota.yaml"
as Carol carol@example.com carol git -C "$REPO" commit -qam "platform: carol helps out"
$MLCP apply "$REPO" --yes 2>&1 | grep -E 'AccessPolicy|ResourceQuota|blocked|rules|apply:' || true
echo "(the policy in force is the last applied one: Carol's edit to it is itself a change it does not allow)"

step "the admin reverts Carol's commit; applying the clean revision makes it the next trusted base"
git -C "$REPO" revert --no-edit HEAD >/dev/null
$MLCP apply "$REPO" --yes 2>&1 | tail -1

step "a member of another tenant tries to change vision's pipeline: denied by the policy"
sed -i 's/vision-data:1.3.0/vision-data:6.6.6/' "$REPO/tenants/vision/pipelines/train-detector.yaml"
as Carol carol@example.com carol git -C "$REPO" commit -qam "carol edits vision's pipeline"
$MLCP plan "$REPO" | grep -E 'WorkflowTemplate|blocked' || true
git -C "$REPO" revert --no-edit HEAD >/dev/null

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

step "the audit log: who changed what, and was it allowed (one hash-chained log in the cluster, verifiable)"
COLUMNS=170 $MLCP audit list | tail -12
$MLCP audit verify --anchor cluster

step "the reconcile loop: mlcp reconcile in the background, following the repo's main branch"
git -C "$REPO" checkout -q -- .
export MLCP_WEBHOOK_SECRET=demo-webhook-secret
$MLCP reconcile --repo "$REPO" --branch main --interval 2s --listen 127.0.0.1:18080 \
  --webhook-secret-env MLCP_WEBHOOK_SECRET --namespace mlcp-system --lease-duration 6s \
  --registry-webhook-url http://127.0.0.1:18080/registry-webhook \
  --workdir "$WORK/reconcile" 2> "$WORK/reconcile.log" &
LOOP=$!
trap 'kill -TERM $LOOP 2>/dev/null || true; wait $LOOP 2>/dev/null || true; cleanup' EXIT
converge() {  # converge "what" command...: poll until the command succeeds (the loop runs every 2 s)
  local what=$1; shift
  for _ in $(seq 1 60); do if "$@" >/dev/null 2>&1; then echo "  ✓ converged: $what"; return 0; fi; sleep 0.5; done
  echo "  ✗ not converged: $what"; tail -5 "$WORK/reconcile.log"; return 1
}
converge "the loop is up" curl -fsS http://127.0.0.1:18080/readyz

step "loop: a platform admin commits a new tenant (robotics)"
mkdir -p "$REPO/tenants/robotics"
printf 'apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: robotics\nspec:\n  owners: [alice@example.com]\n' \
  > "$REPO/tenants/robotics/tenant.yaml"
git -C "$REPO" add tenants/robotics && git -C "$REPO" commit -qm "robotics tenant"
converge "namespace robotics" "$KUBECTL" get namespace robotics

step "loop: a quota change, announced by a (signed) push webhook instead of waiting for the interval"
sed -i 's/requests.nvidia.com\/gpu: "8"/requests.nvidia.com\/gpu: "12"/' "$REPO/tenants/vision/quota.yaml"
git -C "$REPO" commit -qam "vision: 12 GPUs"
BODY='{"ref":"refs/heads/main"}'
SIG="sha256=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$MLCP_WEBHOOK_SECRET" -r | cut -d' ' -f1)"
curl -fsS -X POST -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: $SIG" -d "$BODY" http://127.0.0.1:18080/webhook
converge "vision GPU quota 12" bash -c "\"$KUBECTL\" get resourcequota compute -n vision -o jsonpath='{.spec.hard.requests\.nvidia\.com/gpu}' | grep -qx 12"

step "loop: a new promotion (canary) waits for an approval, then ml-lead approves it"
sed -e 's/name: detector-production/name: detector-canary/' -e 's/alias: production/alias: canary/' -e '/serving:/,$d' \
  "$REPO/tenants/vision/promotions/detector-production.yaml" > "$REPO/tenants/vision/promotions/detector-canary.yaml"
git -C "$REPO" add tenants/vision/promotions && git -C "$REPO" commit -qm "vision: canary promotion"
sleep 3
as "ML Lead" ml-lead@example.com lead $MLCP approve "$REPO/tenants/vision/promotions/detector-canary.yaml"
converge "vision-detector@canary" curl -fsS "$MLFLOW_TRACKING_URI/api/2.0/mlflow/registered-models/alias?name=vision-detector&alias=canary"

# ---- serving: promotions that reach production (issue 13) -------------------------------------------------
step "serving: a new model version (v3) reaches staging; the ML lead approves it; the loop moves production and rolls out its storage URI"
python3 - "$MLFLOW_TRACKING_URI" <<'PY'
import json, sys, urllib.request
uri = sys.argv[1].rstrip("/") + "/api/2.0/mlflow/"
def call(endpoint, **body):
    request = urllib.request.Request(uri + endpoint, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"{}")
with urllib.request.urlopen(uri + "experiments/get-by-name?experiment_name=vision%2Fdetector") as response:
    experiment = json.loads(response.read())["experiment"]["experiment_id"]  # vision's own: its gates judge only its runs
run = call("runs/create", experiment_id=experiment)["run"]["info"]
for key, value in {"val_map": 0.78, "latency_p95_ms": 80.0}.items():
    call("runs/log-metric", run_id=run["run_id"], key=key, value=value, timestamp=0, step=0)
version = call("model-versions/create", name="vision-detector", source="s3://mlcp-demo-models/vision/detector/3/model",
               run_id=run["run_id"])["model_version"]["version"]
call("registered-models/alias", name="vision-detector", alias="staging", version=version)
print(f"vision-detector version {version} (val_map 0.78) registered; staging -> {version}")
PY
served() { "$KUBECTL" get inferenceservice detector-production -n vision -o jsonpath='{.spec.predictor.model.storageUri}'; }
echo "  serving now: $(served)"
for promotion in detector-production detector-canary; do  # both follow staging: both move to version 3
  as "ML Lead" ml-lead@example.com lead $MLCP approve "$REPO/tenants/vision/promotions/$promotion.yaml" --version 3
done
production() { curl -fsS "$MLFLOW_TRACKING_URI/api/2.0/mlflow/registered-models/alias?name=vision-detector&alias=production" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_version"]["version"])'; }
production_is() { [ "$(production)" = "$1" ]; }
serves() { served | grep -q "$1"; }
converge "vision-detector@production -> 3" production_is 3
converge "the InferenceService serves version 3's artifacts" serves /3/model
echo "  serving now: $(served)"

step "serving: someone moves production back to v1 by hand in MLflow: drift, healed by the loop as MLflow's webhook arrives"
BEFORE=$(date +%s.%N)
curl -fsS -X POST -H 'Content-Type: application/json' \
  -d '{"name":"vision-detector","alias":"production","version":"1"}' "$MLFLOW_TRACKING_URI/api/2.0/mlflow/registered-models/alias" >/dev/null
echo "  production -> $(production) (by hand)"
for _ in $(seq 1 100); do [ "$(production)" = 3 ] && break; sleep 0.1; done
echo "  production -> $(production) again, $(python3 -c "import time; print(f'{time.time() - $BEFORE:.1f}')") s after the hand move"
grep -h 'registry webhook' "$WORK/reconcile.log" | tail -1 || true
$MLCP audit list --kind ModelAlias -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)[-3:]:
    print("  #%s %s %s -> %s: %s" % (r["seq"], r["result"], r["target"]["name"], r.get("version"), r["reason"][:150]))'

step "serving: mlcp promotions history — which version served production, and who put it there"
COLUMNS=170 $MLCP promotions history vision-detector --alias production
# ---- end of serving ------------------------------------------------------------------------------------------

step "loop: a member of another tenant changes vision's pipeline: denied, audited, the rest keeps converging"
sed -i 's/vision-data:1.3.0/vision-data:6.6.6/' "$REPO/tenants/vision/pipelines/train-detector.yaml"
as Carol carol@example.com carol git -C "$REPO" commit -qam "carol edits vision's pipeline"
converge "the denial is in the audit log" bash -c "$MLCP audit list --result denied -o json | grep -q carol"
grep '"tenant failed' "$WORK/reconcile.log" | tail -1 || true
git -C "$REPO" revert --no-edit HEAD >/dev/null

step "loop: what the controller did (mlcp audit list), and its metrics"
$MLCP audit list --since 10m || true
$MLCP audit verify --anchor cluster      # the CLI's applies and the loop's passes: one chain
$MLCP audit anchor export                # what a CronJob ships to write-once storage
curl -fsS http://127.0.0.1:18080/metrics | grep -E '^mlcp_reconcile_(passes_total|denials_total|leader|objects_total)' || true

step "loop: SIGTERM — it finishes the write in flight, releases the lease, exits 0"
kill -TERM $LOOP && wait $LOOP && echo "  reconcile exited $?"
trap cleanup EXIT

step "done"
