"""Whose measurement a promotion's gates may judge: a run in one of the promoting tenant's experiments, that logged
the version's files.

A model version's `run_id` (and `source`) is whatever its registrant wrote: `model-versions/create` takes any run
id, and anyone with EDIT on a model registers versions of it. Judged against whatever run a version names, a
tenant member passed a mandatory gate ("auc >= 0.9") on another tenant's measurement, or on a run in an
experiment nobody governs that logged the number she wanted, and the plan printed the other tenant's values, read
with mlcp's admin credentials. So the evidence for a tenant's promotion must be the tenant's own, decided from
inputs no tenant edits:

- the run must be in an experiment mlcp's own records name as the tenant's (the experiment ids recorded when mlcp
  created it or took it over: `InventoryRecord.made`/`taken`, mlflow_identity), matched by id, never by the live
  experiment's name or tags; a run cannot be moved between experiments;
- the version's files must be the ones that run logged, where the source says which run logged them: a `runs:/`
  source names the run, a LoggedModel (`models:/m-...`) its `source_run_id`, a copy (`models:/<name>/<n>`) the
  version it was copied from, which is held to the same (mlflow_evidence follows them). A concrete location names
  no run: where it may be served from is the serving check's (reconciler/servedhomes.py).

Otherwise the promotion is blocked and nothing of the run is read beyond its experiment: no metric value reaches
the plan, its JSON or the audit. Ownership that cannot be told (no experiment recorded for the tenant, the run's
experiment not given) blocks too. These are verdicts on values already read: pure, tested without a server; the
reads are mlflow_evidence's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from controlplane.inventory import InventoryRecord
from controlplane.plans import ObjectRef
from controlplane.rendering.mlflow_objects import EXPERIMENT
from reconciler.backends.mlflow_identity import recorded_id

REGISTER_FROM = "register the version from a run in one of the tenant's experiments (those mlcp manages for it)"


def tenants_experiments(records: Mapping[ObjectRef, InventoryRecord]) -> dict[str, frozenset[str]]:
    """Tenant → the ids of the experiments mlcp's records name as its own (an unreadable record, or one without an
    id, names none)."""
    found: dict[str, set[str]] = {}
    for ref, record in records.items():
        experiment = recorded_id(record) if ref.kind == EXPERIMENT else None
        if experiment is not None and record.tenant:
            found.setdefault(record.tenant, set()).add(experiment)
    return {tenant: frozenset(ids) for tenant, ids in found.items()}


def foreign_run(
    model: str, number: str, tenant: str | None, run_id: str, experiment: str | None, ours: frozenset[str]
) -> str | None:
    """Why run `run_id` (in `experiment`, as MLflow reports it; None: not reported) is no evidence for `tenant`'s
    promotion of version `number` of `model` (None: it is in one of `ours`, the tenant's recorded experiments)."""
    if tenant and experiment and experiment in ours:
        return None
    subject = f"the gates of version {number} of {model!r} judge the metrics of its run {run_id}"
    if not tenant:
        return f"{subject}, but the promotion names no tenant whose run it must be; its metrics were not read"
    if not experiment:
        where = "MLflow did not say which experiment that run is in"
    elif not ours:
        where = (
            f"it is in experiment {experiment}, and mlcp records no experiment as tenant {tenant!r}'s yet (an apply "
            "records each experiment it creates or takes over for the tenant)"
        )
    else:
        where = f"it is in experiment {experiment}, which mlcp does not record as tenant {tenant!r}'s"
    return (
        f"{subject}, but {where}: a version's run is whatever its registrant wrote, so only a run of the tenant's own "
        f"experiments is evidence for its promotion, and the run's metrics were not read. To fix: {REGISTER_FROM}, "
        "or promote another version"
    )


class Kind(Enum):
    """What a version's `source` says about the run that logged its files."""

    RUN = "run"  # runs:/<run id>/<path>
    LOGGED_MODEL = "logged model"  # models:/m-<id>, a LoggedModel with a source run
    VERSION = "version"  # models:/<name>/<number>, a copy of another version
    UNTOLD = "untold"  # a reference whose run cannot be told (another server, an alias, a stage)


@dataclass(frozen=True)
class Reference:
    """The reference in a version's `source`: its kind and what it names (a run id, a LoggedModel id, a version)."""

    kind: Kind
    name: str
    number: str = ""


RUNS = "runs:"
MODELS = "models:"
LOGGED_MODEL_PREFIX = "m-"


def reference(source: str) -> Reference | None:
    """The reference `source` makes (None: a concrete location, which names no run)."""
    if not source.startswith((RUNS, MODELS)):
        return None
    parts = urlsplit(source)
    path = parts.path[1:] if parts.path.startswith("/") else ""
    if parts.netloc or not path:  # `runs://<profile>/...`, `models://<profile>/...`: another server
        return Reference(Kind.UNTOLD, source)
    head, _, rest = path.partition("/")
    if source.startswith(RUNS):
        return Reference(Kind.RUN, head)
    if not rest and head.startswith(LOGGED_MODEL_PREFIX):
        return Reference(Kind.LOGGED_MODEL, head)
    if rest.isdigit() and "@" not in head:
        return Reference(Kind.VERSION, head, rest)
    return Reference(Kind.UNTOLD, source)


def other_files(model: str, number: str, run_id: str, ref: Reference, logged_by: str | None) -> str | None:
    """Why version `number`'s files are not the ones run `run_id` logged: `ref`, a reference on its way to them,
    names files `logged_by` another run (None: logged by no run, or untold). None: they are that run's."""
    if ref.kind is not Kind.UNTOLD and logged_by == run_id:
        return None
    if ref.kind is Kind.UNTOLD:
        found = f"its source {ref.name!r} does not say which run logged its files"
    else:
        via = {
            Kind.RUN: f"its source names run {ref.name}",
            Kind.LOGGED_MODEL: f"its source is LoggedModel {ref.name}",
            Kind.VERSION: f"its source is a copy of version {ref.number} of {ref.name!r}",
        }[ref.kind]
        found = f"{via}, whose files {f'run {logged_by}' if logged_by else 'no run'} logged"
    return (
        f"the gates of version {number} of {model!r} judge the metrics of its run {run_id}, but {found}: the gates "
        f"would vouch for files they never measured. To fix: {REGISTER_FROM}, with `run_id` the run that logged its "
        "files, or promote another version"
    )
