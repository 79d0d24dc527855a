"""The admission policies shipped beside mlcp's RBAC: what RBAC alone cannot confine, the API server checks.

RBAC says which verbs an identity has on which resources; it cannot look inside the object. Two grants mlcp
needs are wider than their job because of that:

- **Runs (`mlcp-tenant-workflows`).** Members create Workflows to start runs, and Argo's controller creates
  whatever pods a Workflow describes, with its own rights: a Workflow carrying its own `templates`, a
  `serviceAccountName`, `podSpecPatch`, a Secret volume or a toleration of the control plane's taints ran
  as any account of the namespace (the trainer, a notebook's, a predictor's), read any of its Secrets and
  skipped every check `mlcp validate` makes of a pipeline. Argo keeps no status subresource either, so
  `update` on a run let its holder rewrite the stored spec Argo executes (`status.storedWorkflowTemplateSpec`)
  or the artifact repository and volumes Argo resolved. In mlcp's namespaces, a Workflow written by someone
  who may not write Workflows cluster-wide (people bound in one namespace, which is what mlcp grants; Argo's
  and Katib's controllers and cluster admins are cluster-wide) may only name a governed WorkflowTemplate of
  its namespace and give its parameters by value, stop or suspend the run, and change only the status fields
  a retry or resume changes. What runs is what was reviewed, with the parameters a person chose.
- **mlcp's own token (`mlcp-reconciler-scope`).** mlcp writes namespaces, ServiceAccounts, Roles,
  RoleBindings, NetworkPolicies and quotas (what platform kinds render) and binds the shipped tenant roles;
  RBAC can only grant that in every namespace. With this policy, the controller's account (any ServiceAccount
  named `mlcp-reconciler`) writes them only in namespaces mlcp manages (labelled `app.kubernetes.io/
  managed-by: mlcp`), creates only namespaces it labels so (and its own), and changes another namespace's
  labels, annotations, owners or finalizers only when a cluster admin labelled it `mlcp.dev/adoptable: "true"`
  (what `adoptNamespace` takes over). A stolen token
  can no longer bind a tenant role, relabel Pod Security or open a NetworkPolicy in `kube-system` or any
  namespace that is not a tenant's.

The resources of the second are the platform kinds' declarations (`rendering.catalog`), so a platform kind
that renders a new resource is confined with it; `make rbac` writes the file, `make lint` fails on a stale one.
"""

from __future__ import annotations

from typing import Any

from controlplane.labels import ADOPTABLE_LABEL, MANAGED_BY, MANAGER
from controlplane.rendering import catalog
from controlplane.rendering.manifests import manifest

ADMISSION_V1 = "admissionregistration.k8s.io/v1"
WORKFLOW_POLICY = "mlcp-tenant-workflows"
SCOPE_POLICY = "mlcp-reconciler-scope"
CONTROLLER_ACCOUNT = "mlcp-reconciler"
"""The controller's ServiceAccount name in deploy/ (in whatever namespace an overlay puts it)."""

RUN_FIELDS = ("workflowTemplateRef", "arguments", "shutdown", "suspend")
"""What a person's Workflow may set: the governed template, its parameters, stop and suspend (`mlcp run`,
`argo submit --from workflowtemplate/…`, `argo stop|terminate|suspend|resume`)."""
RUN_STATUS = (
    "nodes",
    "compressedNodes",
    "phase",
    "message",
    "startedAt",
    "finishedAt",
    "progress",
    "conditions",
    "estimatedDuration",
    "resourcesDuration",
    "taskResultsCompletionStatus",
)
"""The status fields `argo retry`, `resume` and `resubmit --memoized` write (`compressedNodes` is `nodes` of a
large run). Of the others, the volume claims Argo deletes may only be emptied and the stored spec Argo executes
changes only in `STORED_EDITS`; the stored templates, the resolved artifact repository and the rest stay as Argo
wrote them."""

NAMESPACE_META = ("labels", "annotations", "ownerReferences", "finalizers")
"""What an update of a namespace mlcp does not manage may not change: mlcp makes sure its own namespace exists with
an apply that changes none of them (a no-op elsewhere too), and creates it on a first start."""
STORED_EDITS = ("shutdown", "suspend", "arguments")
"""What `argo retry` (`-p`: parameters) and a stop or suspend change in the spec Argo stored for a run."""
_LABELS = {"app.kubernetes.io/part-of": "mlcp"}


def _cel_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def _rule(group: str, plurals: list[str], operations: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "apiVersions": ["*"], "resources": list(plurals), "operations": list(operations)}


def _validation(expression: str, message: str) -> dict[str, Any]:
    return {"expression": expression, "message": message, "reason": "Forbidden"}


def _labelled(obj: str, label: str, value: str) -> str:
    return f"{obj}.metadata.?labels[?'{label}'] == optional.of('{value}')"


def _status_validations() -> list[dict[str, Any]]:
    """A person's update of a run's status: what retry and resume write; the volume claims Argo would delete only
    emptied (retry); the stored spec Argo executes only in `shutdown`, `suspend` and parameters (retry with `-p`)."""
    edits, claims, stored = _cel_list(RUN_STATUS), "persistentVolumeClaims", "storedWorkflowTemplateSpec"
    new, old = f"object.status.{stored}", f"oldObject.status.{stored}"
    same = f"(k in {old} && {new}[k] == {old}[k])"
    free = _cel_list(STORED_EDITS)
    return [
        _validation(
            f"!has(object.status) || object.status.all(k, k in {edits} || k in ['{claims}', '{stored}'] || "
            "(variables.updating && k in oldObject.status && object.status[k] == oldObject.status[k]))",
            f"a run's status may change only in what a retry or resume changes ({', '.join(RUN_STATUS)}): the "
            "stored templates, artifact repository and the rest are Argo's",
        ),
        _validation(
            f"!variables.updating || oldObject.status.all(k, k in {edits} || k == '{claims}' || "
            "(has(object.status) && k in object.status))",
            "the stored spec, templates and artifact repository of a run are Argo's: they cannot be removed",
        ),
        _validation(
            f"!has(object.status) || !has(object.status.{claims}) || size(object.status.{claims}) == 0 || "
            f"(variables.updating && has(oldObject.status.{claims}) && "
            f"object.status.{claims} == oldObject.status.{claims})",
            "the volume claims Argo deletes when a run ends are Argo's (a retry may only empty them)",
        ),
        _validation(
            f"!has(object.status) || !has({new}) || (variables.updating && has({old}) && "
            f"{new}.all(k, k in {free} || {same}) && {old}.all(k, k in {free} || k in {new}) && "
            f"(!has({new}.arguments) || !has({new}.arguments.parameters) || "
            f"{new}.arguments.parameters.all(p, !has(p.valueFrom))))",
            f"the spec Argo stored for a run is what it executes: a person changes only {', '.join(STORED_EDITS)} "
            "(parameters by value) there, as a retry does",
        ),
    ]


def workflow_policy() -> dict[str, Any]:
    """People's runs in mlcp's namespaces: a governed template and its parameters, nothing Argo would run instead."""
    verb = "request.operation == 'CREATE' ? 'create' : 'update'"
    return manifest(
        ADMISSION_V1,
        "ValidatingAdmissionPolicy",
        {"name": WORKFLOW_POLICY, "labels": _LABELS},
        spec={
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [_rule("argoproj.io", ["workflows"], ["CREATE", "UPDATE"])]},
            "matchConditions": [
                {
                    "name": "granted-in-one-namespace",
                    "expression": f"!authorizer.group('argoproj.io').resource('workflows').check({verb}).allowed()",
                }
            ],
            "variables": [
                {"name": "updating", "expression": "request.operation == 'UPDATE' && has(oldObject.status)"},
            ],
            "validations": [
                _validation(
                    "has(object.spec) && has(object.spec.workflowTemplateRef) && "
                    "!(has(object.spec.workflowTemplateRef.clusterScope) && "
                    "object.spec.workflowTemplateRef.clusterScope)"
                    f" && object.spec.all(k, k in {_cel_list(RUN_FIELDS)})",
                    "a run in a tenant namespace names a governed WorkflowTemplate of the namespace "
                    f"(spec.workflowTemplateRef) and sets nothing but {', '.join(RUN_FIELDS)}: the template "
                    "decides what runs and as which account (use `mlcp run` or `argo submit --from "
                    "workflowtemplate/<name>`)",
                ),
                _validation(
                    "!has(object.spec) || !has(object.spec.arguments) || "
                    "(object.spec.arguments.all(k, k == 'parameters') && "
                    "(!has(object.spec.arguments.parameters) || "
                    "object.spec.arguments.parameters.all(p, p.all(f, f in ['name', 'value']))))",
                    "a run's arguments are parameters given by name and value (no artifacts, no valueFrom)",
                ),
                *_status_validations(),
                _validation(
                    "request.operation != 'UPDATE' || !has(oldObject.spec) || !has(oldObject.spec.workflowTemplateRef)"
                    " || object.spec.workflowTemplateRef == oldObject.spec.workflowTemplateRef",
                    "a run's template cannot change after it was created",
                ),
            ],
        },
    )


def scope_policy() -> dict[str, Any]:
    """mlcp's controller writes what platform kinds render only where mlcp manages the namespace."""
    namespaced: dict[str, list[str]] = {}
    for resource in catalog.platform_resources():
        if resource.namespaced:
            namespaced.setdefault(resource.group, []).append(resource.plural)
        elif (resource.group, resource.plural) != ("", "namespaces"):  # pragma: no cover - none renders one yet
            raise catalog.CatalogError(f"no admission rule confines mlcp's writes of {resource.plural}")
    writes = ["CREATE", "UPDATE", "DELETE"]
    rules = [_rule("", ["namespaces"], writes)] + [_rule(g, p, writes) for g, p in namespaced.items()]
    managed = _labelled("{}", MANAGED_BY, MANAGER)
    name = f"system:serviceaccount:[^:]+:{CONTROLLER_ACCOUNT}"
    return manifest(
        ADMISSION_V1,
        "ValidatingAdmissionPolicy",
        {"name": SCOPE_POLICY, "labels": _LABELS},
        spec={
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": rules},
            "matchConditions": [
                {"name": "mlcps-controller", "expression": f"request.userInfo.username.matches('^{name}$')"}
            ],
            "variables": [
                {"name": "home", "expression": "request.userInfo.username.split(':')[2]"},
                {
                    "name": "untouched",
                    "expression": " && ".join(
                        f"object.metadata.?{field} == oldObject.metadata.?{field}" for field in NAMESPACE_META
                    ),
                },
            ],
            "validations": [
                _validation(
                    "request.resource.resource != 'namespaces' || "
                    + managed.format("(request.operation == 'CREATE' ? object : oldObject)")
                    + " || (request.operation == 'UPDATE' && ("
                    + _labelled("oldObject", ADOPTABLE_LABEL, "true")
                    + " || variables.untouched))"
                    + " || (request.operation == 'CREATE' && object.metadata.name == variables.home)",
                    f"mlcp's controller creates, changes and deletes only namespaces labelled {MANAGED_BY}: {MANAGER}"
                    f'; a cluster admin labels one {ADOPTABLE_LABEL}: "true" to let a Tenant adopt it',
                ),
                _validation(
                    "request.resource.resource == 'namespaces' || " + managed.format("namespaceObject"),
                    f"mlcp's controller writes RBAC, isolation and quotas only in namespaces labelled {MANAGED_BY}: "
                    f"{MANAGER} (a tenant's)",
                ),
            ],
        },
    )


def _binding(policy: str, namespaces: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"policyName": policy, "validationActions": ["Deny"]}
    if namespaces is not None:
        spec["matchResources"] = {"namespaceSelector": namespaces}
    return manifest(ADMISSION_V1, "ValidatingAdmissionPolicyBinding", {"name": policy, "labels": _LABELS}, spec=spec)


def policies() -> list[dict[str, Any]]:
    """Both policies and their bindings: runs in mlcp's namespaces, mlcp's own writes everywhere."""
    return [
        workflow_policy(),
        _binding(WORKFLOW_POLICY, {"matchLabels": {MANAGED_BY: MANAGER}}),
        scope_policy(),
        _binding(SCOPE_POLICY, None),
    ]
