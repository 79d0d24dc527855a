"""Model promotions in MLflow: resolve the target version, gate it on its run's metrics, move the alias safely.

Git only says "production should be the version behind staging, if its run's
auc >= 0.9"; which version that is and what its run measured are live facts.
So the planner pairs the alias generically, and `review` turns each pairing
into the real decision: the move from the current version to the target, or a
blocked change naming the failing gate and the measured value. Applying
re-reads the alias right before moving it (compare-and-set) and refuses when
someone moved it since the plan: their move is never overwritten blindly. It
reads the alias back right after moving it too: a move someone made at the
same moment is a recorded conflict (a failed outcome, audited), not a silent
overwrite.

What blocks a version (a gate its run fails, the quarantine tag) is judged in
mlflow_gates, on the values read here; whether its run is evidence for the
promoting tenant at all (a run of the tenant's own experiments, that logged the
version's files) in mlflow_provenance, on what mlflow_evidence reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from controlplane.inventory import InventoryRecord, LastSet
from controlplane.plans import Action, Change, FieldDiff, ObjectRef
from controlplane.rendering.mlflow_objects import OWNER_TAG, OWNER_VALUE, AliasRef, alias_tag, version_tag
from reconciler.backends import mlflow_drift, mlflow_sources
from reconciler.backends.base import ApplyOptions, BackendError, Outcome, Status
from reconciler.backends.mlflow_evidence import Evidence
from reconciler.backends.mlflow_gates import QUARANTINE_TAG, evaluate_gates, gate_blocker, quarantine_tag
from reconciler.backends.mlflow_rest import MlflowApiError, MlflowRest, Unanswered

UNKNOWN_ACTOR = "unknown"


def _promoter(change: Change, options: ApplyOptions) -> str:
    """Who promoted: the authors the authorizer identified (signers where required), else the caller's actor."""
    if change.decision is not None and change.decision.actors:
        return ",".join(change.decision.actors)
    return options.actor or UNKNOWN_ACTOR


@dataclass(frozen=True)
class ModelInfo:
    """A registered model as one search page shows it: its aliases and tags."""

    aliases: dict[str, str]
    tags: dict[str, str]


class Promotions:
    """Review and apply of ModelAlias changes against one MLflow server."""

    def __init__(
        self, rest: MlflowRest, before_move: Callable[[ObjectRef, str], None] = lambda ref, version: None
    ) -> None:
        self.rest = rest
        self.before_move = before_move
        """Called right before an alias is moved, with the version it moves to: mlcp's record of another version it
        set must not outlive the move (if the move's outcome is never recorded, drift is unknown rather than judged
        from a stale version)."""
        self.moved: dict[ObjectRef, LastSet] = {}
        """What this apply set each alias it moved to, taken by the inventory record written at its end (an entry
        left by an apply cut short is still a version mlcp set, and the next move of that alias replaces it)."""
        self.models: dict[str, ModelInfo] = {}
        self.evidence = Evidence(rest, self._version)
        self._versions: dict[tuple[str, str], dict[str, Any]] = {}
        self._locations: dict[tuple[str, str], str | None] = {}

    def forget(self) -> None:
        """Drop the models, versions (their tags: quarantine) and run metrics read for the last plan.

        They are live facts that decide a promotion: the loop keeps one backend for its whole life, so a version
        quarantined or a metric that dropped since an earlier pass must be read again, never judged from that
        pass's answers. Within one plan a version is still read once (serving's resolve, then the review).
        """
        self.models = {}
        self.evidence.forget()
        self._versions = {}
        self._locations = {}

    # -- plan ------------------------------------------------------------------------------------------------

    def review(self, change: Change, record: InventoryRecord | None, ours: frozenset[str]) -> Change:
        """The real move (or a block) for one paired alias; deletes and no-ops of absent specs pass through.

        `record` is mlcp's own inventory record of the alias: whether it drifted is decided from it alone
        (mlflow_drift), never from the model's tags. `ours`: the ids of the experiments mlcp records as the
        promoting tenant's, the only ones whose runs its gates judge (mlflow_provenance). An alias off the version it
        names carries the move back there as the change's fallback, for when the move to the declared version may
        not go ahead.
        """
        want = change.desired
        if change.action is Action.delete or want is None:
            return change
        model, alias = str(want["model"]), str(want["alias"])
        info = self.models.get(model)
        if info is None:
            return _blocked(change, f"registered model {model!r} does not exist in MLflow")
        current = info.aliases.get(alias)
        target = want.get("version") or info.aliases.get(str(want.get("fromAlias")))
        verdict = mlflow_drift.judge(model, alias, record, info.tags, current, None if target is None else str(target))
        back = self._restoring(change, verdict, current, None if target is None else str(target))
        if target is None:
            blocked = _blocked(change, f"alias {want.get('fromAlias')!r} is not set on model {model!r}")
            return replace(blocked, fallback=back)
        there = current == str(target)  # and, with `verdict.restore`, put there outside mlcp
        previous = verdict.restore.version if there and verdict.restore else current
        resolved = {**want, "version": str(target), "previousVersion": previous}
        common: dict[str, Any] = {
            "desired": resolved,
            "live_version": current,
            "diffs": (),
            "blocked": None,
            "drift": verdict.drift,
        }
        if there and verdict.restore is None and verdict.unrecorded is None:
            return replace(change, action=Action.noop, reason=f"{model}@{alias} already at version {target}", **common)
        gates = list(want.get("gates") or [])
        try:
            version = self._version(model, str(target))
            refused, metrics = self.evidence.metrics(model, str(target), change.tenant, ours) if gates else (None, {})
        except BackendError as exc:
            blocked = _blocked(replace(change, **common), f"cannot read version {target} of {model!r}: {exc}")
            return replace(blocked, fallback=back)
        results = evaluate_gates(gates, metrics)
        resolved["gates"] = [r.to_dict() for r in results]
        resolved["runId"] = version.get("run_id") or None
        resolved["storageUri"] = version.get("source")
        blocker = refused or gate_blocker(results)
        if results and not version.get("run_id"):
            blocker = f"version {target} of {model!r} has no source run, so its gates cannot be evaluated"
        quarantined = quarantine_tag(version)
        if quarantined is not None:
            source = f"`fromAlias: {want['fromAlias']}` resolves to it" if want.get("fromAlias") else "it is promoted"
            blocker = (
                f"version {target} of {model!r} is quarantined (registry tag {QUARANTINE_TAG}: {quarantined}); "
                f"{source}. Promote another version"
            )
        action = Action.create if previous is None else Action.update
        moves = f"from version {previous}" if previous else "(not set yet)"
        reason = f"moves {model}@{alias} {moves} to version {target}"
        if there and verdict.unrecorded is not None:
            reason = verdict.unrecorded
        elif there:
            reason += f", where it already is: {verdict.moved}; applying records it as mlcp's move"
        elif verdict.drift is not None:
            reason = f"drift: {verdict.drift}; moves it back to version {target}"
        if verdict.note:
            reason += f" ({verdict.note})"
        return replace(
            change,
            action=action,
            reason=reason,
            fallback=back,
            **{**common, "diffs": (FieldDiff(("version",), previous, str(target)),), "blocked": blocker},
        )

    def _restoring(
        self, change: Change, verdict: mlflow_drift.Verdict, current: str | None, target: str | None
    ) -> Change | None:
        """The move back to the version mlcp last set, for when the change to the declared version may not go ahead
        (None: the alias is where mlcp left it, or mlcp's record does not say where that is).

        That version is the last authorized state: going back needs no new approval and no freeze window holds it
        (the authorizer judges it, reconciler.authorizing). A version tagged as quarantined since is not gone back
        to: the fallback is blocked too, and the alias stays where the plan shows it.
        """
        last = verdict.restore
        if last is None or verdict.moved is None:
            return None
        if verdict.heals or target is None:
            declared = "the declared change"
        elif current == target:
            declared = f"the declared move from version {last.version} to version {target}, where it already is,"
        else:
            declared = f"the declared move to version {target}"
        want = change.desired or {}
        model = str(want["model"])
        blocker = None
        try:
            version = self._version(model, last.version)
        except BackendError as exc:
            version, blocker = {}, f"cannot read version {last.version} of {model!r}: {exc}"
        quarantined = quarantine_tag(version)
        if quarantined is not None:
            blocker = (
                f"version {last.version} of {model!r}, the version mlcp last set, is quarantined since (registry tag "
                f"{QUARANTINE_TAG}: {quarantined}); mlcp does not move it back there"
            )
        desired = {
            **want,
            "version": last.version,
            "previousVersion": current,
            "gates": [],
            "runId": version.get("run_id") or None,
            "storageUri": version.get("source"),
            "restores": {"by": last.by, "commit": last.commit},
        }
        return replace(
            change,
            action=Action.create if current is None else Action.update,
            reason=(
                f"drift: {verdict.moved}; moves it back to version {last.version}, the version mlcp last set: "
                f"{declared} may not go ahead"
            ),
            desired=desired,
            live_version=current,
            diffs=(FieldDiff(("version",), current, last.version),),
            blocked=blocker,
            drift=verdict.moved,
            decision=None,
            fallback=None,
        )

    def resolve_version(self, alias: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        """The version a rendered alias moves to, where that version's files are (its `source`, a reference
        resolved as MLflow resolves it: mlflow_sources), and the source as registered.

        Serving follows the promotion: the engine completes an InferenceService from this before planning
        (reconciler/serving.py); the review reads the same cached version afterwards, so it costs no extra call.
        """
        model = str(alias["model"])
        info = self.models.get(model)
        if info is None:
            raise BackendError(f"registered model {model!r} does not exist in MLflow")
        target = alias.get("version") or info.aliases.get(str(alias.get("fromAlias")))
        if target is None:
            raise BackendError(f"alias {alias.get('fromAlias')!r} is not set on model {model!r}")
        key = (model, str(target))
        if key not in self._locations:
            self._locations[key] = mlflow_sources.location(self.rest, model, str(target), self._version(*key))
        return str(target), self._locations[key], str(self._version(*key).get("source") or "") or None

    def _version(self, model: str, version: str) -> dict[str, Any]:
        key = (model, version)
        if key not in self._versions:
            self._versions[key] = (
                self.rest.get("model-versions/get", name=model, version=version).get("model_version") or {}
            )
        return self._versions[key]

    # -- apply -----------------------------------------------------------------------------------------------

    def current(self, model: str, alias: str) -> str | None:
        """The version `model@alias` points to right now (None when unset or the model is gone)."""
        try:
            found = self.rest.get("registered-models/alias", name=model, alias=alias)
        except MlflowApiError as exc:
            if exc.not_found or (exc.code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)):
                return None
            raise
        return str((found.get("model_version") or {}).get("version")) or None

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        want = change.desired or {}
        model, alias = AliasRef.of(change.ref)
        try:
            now = self.current(model, alias)
            if now != change.live_version:
                planned = change.live_version or "unset"
                return Outcome(
                    change,
                    Status.failed,
                    f"compare-and-set refused: {model}@{alias} was at {planned} when planned and is at "
                    f"{now or 'unset'} now; someone else moved it. Nothing was changed; run `mlcp plan` again",
                )
            if options.dry_run:
                return Outcome(change, Status.applied if want else Status.deleted, "dry run", now)
            if change.action is Action.delete:
                return self._remove(change, model, alias)
            return self._move(change, model, alias, want, options)
        except BackendError as exc:
            return Outcome(change, Status.failed, f"{exc}; the alias was not moved")

    def _move(self, change: Change, model: str, alias: str, want: dict[str, Any], options: ApplyOptions) -> Outcome:
        """Move the alias (unless it is there already: a move outside mlcp that this change authorizes), read it
        back, and record the move as mlcp's: who, when, from which commit (a move back to the version mlcp last
        set keeps who set it and from which commit)."""
        target = str(want["version"])
        there = change.live_version == target
        self.before_move(change.ref, target)
        try:
            if not there:
                self.rest.post("registered-models/alias", name=model, alias=alias, version=target)
        except (Unanswered, MlflowApiError) as exc:  # an attempt got no answer (timed out, the lease ran out)
            if isinstance(exc, MlflowApiError) and not exc.after_lost_answer:
                raise  # MLflow refused it: the alias did not move
            return Outcome(
                change,
                Status.failed,
                f"moving {model}@{alias} to version {target} did not complete ({exc}); it may or may not have "
                "moved, and who moved it was not recorded: the next plan reads where it is",
                uncertain=True,
            )
        conflict = self._read_back(model, alias, target)
        if conflict:
            return Outcome(change, Status.failed, conflict)
        provenance = want.get("provenance") or {}
        restores = want.get("restores")
        previous = want.get("previousVersion", change.live_version)
        record = {
            "by": (restores.get("by") if restores else None) or _promoter(change, options),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": (restores.get("commit") if restores else provenance.get("commit")) or "",
            "previous-version": previous or "",
        }
        try:
            for key, value in record.items():
                self.rest.post(
                    "model-versions/set-tag", name=model, version=target, key=version_tag(alias, key), value=value
                )
            model_tags = {
                **{alias_tag(alias, k): v for k, v in record.items()},
                alias_tag(alias, "version"): target,
                alias_tag(alias, "spec"): str(provenance.get("spec") or ""),
                alias_tag(alias, "source"): str(provenance.get("source") or ""),
                alias_tag(alias, "tenant"): change.tenant or "",
                OWNER_TAG: OWNER_VALUE,
            }
            for key, value in model_tags.items():
                self.rest.post("registered-models/set-tag", name=model, key=key, value=value)
        except BackendError as exc:
            return Outcome(
                change,
                Status.failed,
                f"{model}@{alias} moved to version {target}, but recording who/when failed: {exc}",
            )
        self.moved[change.ref] = LastSet(target, record["commit"] or None, record["by"], record["at"])
        if there and previous == target:
            done = f"{model}@{alias} was at version {target} already: confirmed and recorded as mlcp's"
            return Outcome(change, Status.applied, done, target)
        if there:
            done = f"{model}@{alias} was at version {target} already (moved outside mlcp): recorded as mlcp's move"
            return Outcome(change, Status.applied, f"{done} from version {previous}", target)
        moved = f"from version {change.live_version}" if change.live_version else "(was unset)"
        return Outcome(change, Status.applied, f"{model}@{alias} moved {moved} to version {target}", target)

    def _read_back(self, model: str, alias: str, target: str) -> str | None:
        """Why the move did not stick (someone moved the alias again, or it cannot be read), or None.

        MLflow has no compare-and-set: between mlcp's read and its write, or right after the write, another
        client may move the alias too. Reading it back turns a lost race into a recorded conflict, not a
        silent overwrite; mlcp neither moves it back nor records itself as the promoter.
        """
        try:
            now = self.current(model, alias)
        except BackendError as exc:
            return f"{model}@{alias} was moved to version {target}, but reading it back failed: {exc}"
        if now == target:
            return None
        return (
            f"conflict: {model}@{alias} is at {now or 'unset'} right after mlcp moved it to version {target}; "
            "someone else moved it at the same time. mlcp did not move it back nor record the promotion as its "
            "own: find out who moved it, then run `mlcp plan` again"
        )

    def _remove(self, change: Change, model: str, alias: str) -> Outcome:
        try:
            self.rest.delete("registered-models/alias", name=model, alias=alias)
        except Unanswered as exc:
            return Outcome(
                change,
                Status.failed,
                f"removing {model}@{alias} did not complete ({exc}); it may or may not be gone: the next plan reads it",
                uncertain=True,
            )
        except MlflowApiError as exc:  # gone already: an earlier attempt whose answer was lost removed it
            if not exc.not_found or self.current(model, alias) is not None:
                raise
        try:
            found = self.rest.get("registered-models/get", name=model).get("registered_model") or {}
            tags = [str(t["key"]) for t in found.get("tags") or []]
            for key in [k for k in tags if k.startswith(alias_tag(alias, ""))]:
                try:
                    self.rest.delete("registered-models/delete-tag", name=model, key=key)
                except MlflowApiError as exc:
                    if not exc.not_found:
                        raise
        except BackendError as exc:
            return Outcome(
                change, Status.failed, f"alias {model}@{alias} removed, but removing mlcp's tags for it failed: {exc}"
            )
        return Outcome(change, Status.deleted, f"alias {model}@{alias} removed (was version {change.live_version})")


def _blocked(change: Change, reason: str) -> Change:
    return replace(change, blocked=reason, action=Action.update if change.action is Action.noop else change.action)
