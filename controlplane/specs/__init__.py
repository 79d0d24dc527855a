"""Spec kinds, one module each; importing this package registers them all in `KINDS`."""

from controlplane.specs import access_policy, experiment, model_promotion, pipeline, quota, tenant
from controlplane.specs.access_policy import AccessPolicy
from controlplane.specs.base import API_VERSION, KINDS, Spec, schema_of
from controlplane.specs.experiment import Experiment
from controlplane.specs.model_promotion import ModelPromotion
from controlplane.specs.pipeline import Pipeline
from controlplane.specs.quota import Quota
from controlplane.specs.tenant import Tenant

__all__ = [
    "API_VERSION",
    "KINDS",
    "AccessPolicy",
    "Experiment",
    "ModelPromotion",
    "Pipeline",
    "Quota",
    "Spec",
    "Tenant",
    "access_policy",
    "experiment",
    "model_promotion",
    "pipeline",
    "quota",
    "schema_of",
    "tenant",
]
