"""Serving follows the promotion: the InferenceService is completed from the registry and coupled to the alias."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controlplane.loading.repo import load_repo
from controlplane.plans import Action, Change, DesiredObject, LiveObject, ObjectRef, Plan, SpecKey
from controlplane.rendering import RenderContext, render
from reconciler import serving
from reconciler.backends.base import BackendError
from reconciler.servedhomes import Homes

ROOT = Path(__file__).resolve().parents[2]
SPEC = SpecKey("ModelPromotion", "vision", "detector-production")
HOMES = Homes(
    ("s3://ml-artifacts/{tenant}/",), {"vision": ("s3://models/detector", "gs://bucket/detector", "s3://b/m")}
)
"""vision's places: its root, and the locations of three experiments mlcp manages for it."""


class Registry:
    """A resolver answering from a table: alias manifest's model → (version, source)."""

    def __init__(self, answers: dict[str, tuple[str, str | None]]) -> None:
        self.answers = answers
        self.sources: dict[str, str] = {}
        """Model → the version's source as registered, when a reference (else the location itself)."""
        self.asked: list[str] = []

    def resolve_version(self, alias: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        self.asked.append(str(alias["model"]))
        if str(alias["model"]) not in self.answers:
            raise BackendError(f"registered model {alias['model']!r} does not exist in MLflow")
        version, location = self.answers[str(alias["model"])]
        return version, location, self.sources.get(str(alias["model"]), location)


def _promotion() -> list[DesiredObject]:
    objects = render(RenderContext(load_repo(ROOT / "repo_template"), commits={}))
    return [o for o in objects if o.spec == SPEC]


def _storage(objects: list[DesiredObject]) -> Any:
    (service,) = [o for o in objects if o.ref.kind == "InferenceService"]
    return service.manifest["spec"]["predictor"]["model"].get("storageUri")


@pytest.mark.parametrize("location", ["s3://models/detector/7", "gs://bucket/detector/3/model"])
def test_the_inference_service_points_at_the_resolved_versions_location(location: str) -> None:
    registry = Registry({"vision-detector": ("7", location)})
    done = serving.complete(_promotion(), {}, [registry], HOMES)
    assert done.problems == {}
    assert _storage(done.objects) == location
    assert registry.asked == ["vision-detector"]


@pytest.mark.parametrize(
    "location",
    [
        "mlflow-artifacts:/1/abc/artifacts/model",
        "file:///home/alice/mlruns/1/abc/artifacts/model",
        "/var/mlruns/1/abc/artifacts/model",
        "models:/vision-detector/7",
        "mlruns/1/abc/artifacts/model",
        "s3://models/detector/7/../../../nlp/secret-model",
        "s3://models/detector/7/%252e%252e/%2E%2E/nlp",
        None,
    ],
)
def test_a_location_kserve_cannot_load_is_a_problem_naming_version_location_and_fix(location: str | None) -> None:
    done = serving.complete(_promotion(), {}, [Registry({"vision-detector": ("7", location)})], HOMES)
    problem = done.problems[SPEC]
    assert "version 7 of 'vision-detector' cannot be served" in problem
    assert repr(location or "(no source)") in problem
    assert "artifact root" in problem
    assert _storage(done.objects) is None, "nothing unloadable is written"


def _live(location: str) -> dict[ObjectRef, LiveObject]:
    (service,) = [o for o in _promotion() if o.ref.kind == "InferenceService"]
    manifest = {**service.manifest, "spec": {"predictor": {"model": {"storageUri": location}}}}
    return {service.ref: LiveObject(service.ref, manifest, "1")}


def test_without_the_registry_serving_keeps_what_it_serves_and_creates_nothing() -> None:
    fresh = serving.complete(_promotion(), {}, [], HOMES)
    assert [o.ref.kind for o in fresh.objects] == ["ModelAlias"], "no location known: the service is left out"
    assert fresh.problems == {}
    served = serving.complete(_promotion(), _live("s3://models/detector/3"), [], HOMES)
    assert _storage(served.objects) == "s3://models/detector/3", "an outage never changes or removes serving"


def test_a_version_that_cannot_be_resolved_is_a_problem_and_the_live_location_stays() -> None:
    unknown = serving.complete(_promotion(), _live("s3://models/detector/3"), [Registry({})], HOMES)
    assert "does not exist in MLflow" in unknown.problems[SPEC]
    assert _storage(unknown.objects) == "s3://models/detector/3", "no spurious removal of storageUri in the diff"


def _claiming(location: str) -> list[DesiredObject]:
    """The template's promotion rendered with `serving.storageUri: <location>`, as a committer writes it."""
    objects = _promotion()
    for i, obj in enumerate(objects):
        if obj.ref.kind == "InferenceService":
            predictor = obj.manifest["spec"]["predictor"]
            model = {**predictor["model"], "storageUri": location}
            objects[i] = replace(obj, manifest={**obj.manifest, "spec": {"predictor": {**predictor, "model": model}}})
    return objects


def test_an_explicit_storage_uri_equal_to_the_resolved_location_is_served() -> None:
    registry = Registry({"vision-detector": ("7", "s3://models/detector/7")})
    done = serving.complete(_claiming("s3://models/detector/7"), {}, [registry], HOMES)
    assert done.problems == {} and registry.asked == ["vision-detector"]
    assert _storage(done.objects) == "s3://models/detector/7"


@pytest.mark.parametrize(
    "claimed",
    ["s3://nlp-team-artifacts/secret-model", "s3://models/detector/6", "pvc://models/detector"],
    ids=["another-tenants-artifacts", "a-quarantined-versions-files", "anywhere-else"],
)
def test_an_explicit_storage_uri_elsewhere_is_a_problem_and_never_served(claimed: str) -> None:
    """The alias move is what is authorized (the model the tenant's own, the version not quarantined, gates,
    approvals); a location of the committer's choosing would sidestep all of it."""
    registry = Registry({"vision-detector": ("7", "s3://models/detector/7")})
    fresh = serving.complete(_claiming(claimed), {}, [registry], HOMES)
    problem = fresh.problems[SPEC]
    assert f"serving.storageUri {claimed!r} is not where version 7 of 'vision-detector'" in problem
    assert "'s3://models/detector/7'" in problem
    assert _storage(fresh.objects) == claimed, "shown as written in the plan, where `couple` blocks it"
    served = serving.complete(_claiming(claimed), _live("s3://models/detector/3"), [registry], HOMES)
    assert served.problems == fresh.problems and _storage(served.objects) == claimed
    blocked = serving.couple(_plan_of(served.objects), served.problems)
    assert all(c.blocked and "is not where version 7" in c.blocked for c in blocked.changes), blocked.changes


def _plan_of(objects: list[DesiredObject]) -> Plan:
    """Each object as an update, as the planner makes one when the live object differs."""
    return Plan(
        changes=tuple(
            Change(o.ref, Action.update, "", o.spec, "vision", o.source, o.rank, desired=o.manifest) for o in objects
        )
    )


def test_without_the_registry_an_explicit_storage_uri_is_not_served_either() -> None:
    fresh = serving.complete(_claiming("pvc://models/detector"), {}, [], HOMES)
    assert [o.ref.kind for o in fresh.objects] == ["ModelAlias"], "an unconfirmed claim creates nothing"
    served = serving.complete(_claiming("pvc://models/detector"), _live("s3://models/detector/3"), [], HOMES)
    assert _storage(served.objects) == "s3://models/detector/3"


def _changes(alias_blocked: str | None, service_blocked: str | None = None) -> Plan:
    objects = {
        o.ref.kind: o
        for o in serving.complete(_promotion(), {}, [Registry({"vision-detector": ("2", "s3://b/m")})], HOMES).objects
    }
    alias, service = objects["ModelAlias"], objects["InferenceService"]

    def change(obj: DesiredObject, action: Action, blocked: str | None) -> Change:
        return Change(
            obj.ref, action, "", obj.spec, "vision", obj.source, obj.rank, desired=obj.manifest, blocked=blocked
        )

    return Plan(
        changes=(
            change(alias, Action.update, alias_blocked),
            change(service, Action.update, service_blocked),
        )
    )


def test_a_blocked_alias_move_blocks_the_serving_change_and_the_other_way_round() -> None:
    gated = serving.couple(_changes("gate val_map >= 0.6 failed: measured 0.5"))
    alias, service = gated.changes
    assert alias.blocked == "gate val_map >= 0.6 failed: measured 0.5"
    assert service.blocked and "alias move vision-detector@production is blocked (gate val_map" in service.blocked
    denied = serving.couple(_changes(None, "denied: bob may not change vision"))
    alias, service = denied.changes
    assert alias.blocked and "InferenceService vision/detector-production is blocked (denied" in alias.blocked


def test_a_serving_problem_blocks_both_and_unblocked_pairs_stay_unblocked() -> None:
    both = serving.couple(_changes(None), {SPEC: "version 2 cannot be served"})
    assert [c.blocked for c in both.changes] == ["version 2 cannot be served"] * 2
    free = serving.couple(_changes(None))
    assert [c.blocked for c in free.changes] == [None, None]


def test_a_no_op_is_never_blocked_by_its_partner() -> None:
    planned = _changes("approvals missing")
    alias, service = planned.changes
    coupled = serving.couple(replace(planned, changes=(alias, replace(service, action=Action.noop))))
    assert coupled.changes[1].blocked is None


def test_a_removed_promotions_serving_waits_for_its_alias() -> None:
    """With --prune, a promotion removed during a freeze: its alias delete is held, and the InferenceService delete
    (no desired manifest, recorded as the promotion's) was not paired with it, so production stopped serving."""
    alias, service = _changes(None).changes
    gone = (
        replace(alias, action=Action.delete, desired=None, blocked="held by window weekend until ..."),
        replace(service, action=Action.delete, desired=None),
    )
    coupled = serving.couple(Plan(changes=gone))
    assert coupled.changes[1].blocked and "alias move vision-detector@production is blocked (held by window" in (
        coupled.changes[1].blocked
    )
    notebook = SpecKey("Notebook", "vision", "detector-production")
    other = replace(service, action=Action.delete, desired=None, spec=notebook)
    assert serving.couple(Plan(changes=(gone[0], other))).changes[1].blocked is None, "only a promotion's serving"


@pytest.mark.parametrize(
    "location",
    [
        "s3://ml-artifacts/nlp/sentiment/3/artifacts/model",  # another tenant's root
        "s3://ml-artifacts/visionx/model",  # a root whose name starts with vision's
        "s3://models/detector-old/model",  # beside one of vision's experiments, not in it
        "s3://ML-ARTIFACTS/nlp/model",  # another tenant's root, its bucket spelled otherwise
        "s3://any-bucket/anything/model",  # anywhere else
    ],
)
def test_a_version_whose_files_are_not_the_tenants_is_a_problem_and_blocks_the_move(location: str) -> None:
    """A member with EDIT on vision's model registers a version at any location (or copies another tenant's
    version): vision's InferenceService would load those files with vision's storage credentials."""
    done = serving.complete(_promotion(), {}, [Registry({"vision-detector": ("7", location)})], HOMES)
    problem = done.problems[SPEC]
    assert (
        f"version 7 of 'vision-detector' keeps its artifacts at {location!r}, which is not tenant 'vision''s" in problem
    )
    assert "(s3://ml-artifacts/vision/, s3://models/detector, gs://bucket/detector, s3://b/m)" in problem
    assert "Register the version from a run of one of the tenant's experiments" in problem
    assert _storage(done.objects) is None, "nothing of someone else's is written"
    blocked = serving.couple(_plan_of(done.objects), done.problems)
    assert all(c.blocked and "which is not tenant 'vision''s" in c.blocked for c in blocked.changes), blocked.changes


def test_a_refusal_names_the_reference_the_tenant_wrote_never_the_place_mlcp_read_for_it() -> None:
    """A member registers vision's version from `runs:/<nlp's run>/model`: mlcp resolves it to nlp's run's artifact
    location with its own credentials. The refusal, shown on vision's pull request, names the reference she
    wrote, and nothing of nlp's it read."""
    theirs = "s3://ml-artifacts/nlp/sentiment/3/0af1c0ffee/artifacts/model"
    registry = Registry({"vision-detector": ("7", theirs)})
    registry.sources["vision-detector"] = "runs:/0af1c0ffee/model"
    done = serving.complete(_promotion(), {}, [registry], HOMES)
    problem = done.problems[SPEC]
    assert "keeps its artifacts where its source 'runs:/0af1c0ffee/model' leads, which is not tenant 'vision''s" in (
        problem
    )
    assert "ml-artifacts/nlp" not in problem, problem
    unloadable = Registry({"vision-detector": ("7", "file:///srv/nlp/0af1c0ffee/model")})
    unloadable.sources["vision-detector"] = "runs:/0af1c0ffee/model"
    problem = serving.complete(_promotion(), {}, [unloadable], HOMES).problems[SPEC]
    assert "cannot be served" in problem and "/srv/nlp" not in problem, problem


def test_a_version_under_the_tenants_root_is_served() -> None:
    location = "s3://ml-artifacts/vision/models/7"
    done = serving.complete(_promotion(), {}, [Registry({"vision-detector": ("7", location)})], HOMES)
    assert done.problems == {} and _storage(done.objects) == location
