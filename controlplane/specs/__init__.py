"""Spec kinds, one module each; importing this package imports every module in it, which registers them in `KINDS`.

The scan is what makes a kind one file: a new module here is found without
editing a list. The names re-exported below are for callers' convenience only.
"""

import importlib
import pkgutil

from controlplane.specs import access_policy, experiment, model_promotion, pipeline, quota, tenant
from controlplane.specs.access_policy import AccessPolicy
from controlplane.specs.base import API_VERSION, KINDS, Spec, schema_of
from controlplane.specs.experiment import Experiment
from controlplane.specs.model_promotion import ModelPromotion
from controlplane.specs.pipeline import Pipeline
from controlplane.specs.quota import Quota
from controlplane.specs.tenant import Tenant

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

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
