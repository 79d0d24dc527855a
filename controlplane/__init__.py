"""mlcp: a GitOps control plane for ML platforms.

Specs committed to a config repo are validated, planned against the live
Kubernetes cluster and MLflow registry, authorized, applied and audited.
"""

__version__ = "0.1.0"
