"""The labels and annotations that mark an object as mlcp's, shared by rendering, planning and backends.

Live state is found by `SELECTOR`, so every rendered object must carry
`MANAGED_BY`; provenance annotations let a person find the spec behind an object.
"""

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "mlcp"
SELECTOR = f"{MANAGED_BY}={MANAGER}"
TENANT_LABEL = "mlcp.dev/tenant"
SPEC_LABEL = "mlcp.dev/spec"
SOURCE_ANNOTATION = "mlcp.dev/source"
COMMIT_ANNOTATION = "mlcp.dev/source-commit"
PROTECTION_ANNOTATION = "mlcp.dev/deletion-protection"
FIELD_MANAGER = "mlcp"
ROLE_LABEL = "mlcp.dev/role"
"""What one of mlcp's own ConfigMaps in the controller namespace holds (inventory, inventory-piece, audit-segment,
audit-anchor, reconciler-state): the inventory's read selects its own roles, never the audit log's segments."""
ADOPTED_ANNOTATION = "mlcp.dev/adopted-namespace"
"""On a tenant's Namespace whose spec sets `adoptNamespace: true`: mlcp may take over a namespace it did not make."""
ADOPTABLE_LABEL = "mlcp.dev/adoptable"
"""Set by a cluster admin (never by mlcp, which the deployed admission policy keeps out of namespaces it does not
manage) on a namespace a Tenant may adopt: `rendering.admission`."""
POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"
"""Labels the API server's PodSecurity admission reads; on a tenant's namespace only mlcp sets them (the policy's)."""
RESERVED_ACCOUNT_PREFIX = "mlcp-"
"""ServiceAccounts named so are mlcp's (`mlcp-deployer`, `mlcp-workload`, the controller's): no pipeline runs as one."""
PIPELINE_LABEL = "mlcp.dev/pipeline"
STEP_LABEL = "mlcp.dev/pipeline-step"
"""The step a run's pod (a container step's, the exit handler's) or TrainJob (a training step's) is of: Argo sets no
label naming the template, and Katib finds the pod whose metrics a trial reports by labels (`rendering.katib`)."""
KATIB_INJECTION_LABEL = "katib.kubeflow.org/metrics-collector-injection"
"""The namespace label Katib's pod webhook selects (`mutator.pod.katib.kubeflow.org`'s namespaceSelector,
kubeflow/katib manifests/v1beta1/components/webhook/webhooks.yaml, `enabled`; `katib-metricscollector-injection`
before Katib v0.13, kubeflow/kubeflow#6225): without it no trial pod gets the metrics collector, so no trial
reports its objective. mlcp sets it on every tenant namespace (`rendering.tenant`); no spec sets Katib's labels."""
