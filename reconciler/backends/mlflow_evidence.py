"""The metrics a promotion's gates judge, read only once the run is known to be the promoting tenant's own.

What may be evidence is mlflow_provenance's rule; this module does the reads it needs, in the order that keeps
another tenant's numbers out of mlcp's hands: the run's experiment first (`runs/get`), then the references that
say which run logged the version's files (a LoggedModel, a copied version, followed up to MAX_HOPS), and the
run's metrics only when both are the tenant's. A refusal carries no value read from the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.backends import mlflow_provenance
from reconciler.backends.mlflow_provenance import Kind
from reconciler.backends.mlflow_rest import MlflowRest

MAX_HOPS = 4
"""Copies of copies followed before the source is taken as untold (MLflow records each copy's run as its own)."""

Verdict = tuple[str | None, dict[str, float]]
"""Why the run is no evidence (None: it is), and its latest metric values (empty when it is not)."""


class Evidence:
    """The verdict on each version's run, per promoting tenant, for one plan."""

    def __init__(self, rest: MlflowRest, version: Callable[[str, str], Mapping[str, Any]]) -> None:
        self.rest = rest
        self.version = version
        """`model-versions/get` of (model, number), as the promotion reads (and keeps) it."""
        self._verdicts: dict[tuple[str, str, str | None], Verdict] = {}

    def forget(self) -> None:
        self._verdicts = {}

    def metrics(self, model: str, number: str, tenant: str | None, ours: frozenset[str]) -> Verdict:
        """The verdict on the run of version `number` of `model` as evidence for `tenant` (`ours`: the ids of the
        experiments mlcp records as its own); no run at all is no refusal here, and no metrics
        (BackendError: MLflow did not answer)."""
        key = (model, number, tenant)
        if key not in self._verdicts:
            self._verdicts[key] = self._read(model, number, tenant, ours)
        return self._verdicts[key]

    def _read(self, model: str, number: str, tenant: str | None, ours: frozenset[str]) -> Verdict:
        found = self.version(model, number)
        run_id = str(found.get("run_id") or "")
        if not run_id:
            return None, {}
        run = self.rest.get("runs/get", run_id=run_id).get("run") or {}
        experiment = (run.get("info") or {}).get("experiment_id")
        why = mlflow_provenance.foreign_run(model, number, tenant, run_id, experiment and str(experiment), ours)
        why = why or self._other_files(model, number, run_id, str(found.get("source") or ""))
        if why:
            return why, {}
        metrics = {str(m["key"]): float(m["value"]) for m in (run.get("data") or {}).get("metrics") or []}
        return None, metrics

    def _other_files(self, model: str, number: str, run_id: str, source: str) -> str | None:
        """Why the version's files are not the ones run `run_id` logged (None: they are, or its source is a
        concrete location, which names no run), following copies to the version each was copied from."""
        for _ in range(MAX_HOPS):
            ref = mlflow_provenance.reference(source)
            if ref is None:
                return None
            if ref.kind is Kind.RUN:
                return mlflow_provenance.other_files(model, number, run_id, ref, ref.name)
            if ref.kind is Kind.LOGGED_MODEL:
                info = (self.rest.get(f"logged-models/{ref.name}").get("model") or {}).get("info") or {}
                by = info.get("source_run_id")
                return mlflow_provenance.other_files(model, number, run_id, ref, str(by) if by else None)
            if ref.kind is Kind.UNTOLD:
                return mlflow_provenance.other_files(model, number, run_id, ref, None)
            copied = self.version(ref.name, ref.number)
            by = str(copied.get("run_id") or "") or None
            why = mlflow_provenance.other_files(model, number, run_id, ref, by)
            if why:
                return why
            source = str(copied.get("source") or "")
        untold = mlflow_provenance.Reference(Kind.UNTOLD, source)
        return mlflow_provenance.other_files(model, number, run_id, untold, None)
