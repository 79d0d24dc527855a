"""What apply tells the inventory: who wrote what, never what a blocked or foreign change claims."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, Configuration

from controlplane.audit import AuditError, Journal, JsonlStore
from controlplane.audit.journal import open_intents
from controlplane.inventory import Claim, Inventory
from controlplane.plans import Action, Change, Decision, ObjectRef, Plan, SpecKey
from reconciler import applying, writeloop
from reconciler.applying import apply_plan, unchecked
from reconciler.backends.base import ApplyOptions, Backend, BackendError, LiveState, Outcome, Status, was_attempted
from reconciler.backends.kubernetes import KubernetesBackend
from reconciler.backends.kubernetes_client import KubeClient
from reconciler.backends.kubernetes_pieces import PIECES
from reconciler.fencing import Fence, FencedBackend
from reconciler.settling import decided


def _ref(name: str, kind: str = "RoleBinding") -> ObjectRef:
    return ObjectRef("kubernetes", "v1", kind, "ns", name)


def _change(name: str, tenant: str, action: Action, blocked: str | None = None, live: str | None = "1") -> Change:
    spec, source = SpecKey("Tenant", tenant, tenant), f"tenants/{tenant}/tenant.yaml"
    return Change(_ref(name), action, "", spec, tenant, source, 31, (), {"metadata": {}}, live, blocked)


@dataclass
class Recorder(Backend):
    """A backend that applies everything and remembers each inventory write and the order of events."""

    system: str = "kubernetes"
    order: int = 20
    target: str = "fake"
    events: list[str] = field(default_factory=list)
    recorded: list[tuple[frozenset[ObjectRef], ApplyOptions]] = field(default_factory=list)

    def read(self) -> LiveState:
        return LiveState({}, Inventory())

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        self.events.append(f"apply {change.ref.name}")
        return Outcome(change, Status.deleted if change.action is Action.delete else Status.applied)

    def current_version(self, ref: ObjectRef) -> str | None:
        return None

    def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
        self.events.append("record")
        self.recorded.append((refs, options))


def _apply(*changes: Change) -> Recorder:
    backend = Recorder()
    apply_plan(Plan(changes=changes), {"kubernetes": backend}, ApplyOptions(revision="r2"), authorize=unchecked)
    return backend


def _claims(backend: Recorder) -> dict[str, Claim]:
    return {ref.name: claim for ref, claim in backend.recorded[-1][1].claims.items()}


def test_writes_claim_their_record_and_noops_only_offer_one() -> None:
    backend = _apply(
        _change("written", "a", Action.update),
        _change("same", "a", Action.noop),
        _change("denied", "evil", Action.update, blocked="denied (default-deny)"),
    )
    claims = _claims(backend)
    assert claims["written"].wrote and claims["written"].record.tenant == "a"
    assert not claims["same"].wrote
    assert "denied" not in claims, "a blocked change never attributes anything"
    refs, options = backend.recorded[-1]
    assert {r.name for r in refs} == {"written", "same", "denied"} and options.revision == "r2"


def test_a_noop_of_something_that_does_not_exist_claims_nothing() -> None:
    """E.g. a permission the registry cannot hold (no auth) reviewed into a no-op: nothing exists to own."""
    assert "ghost" not in _claims(_apply(_change("ghost", "a", Action.noop, live=None)))


def test_the_owners_write_wins_over_a_newcomers_blocked_claim_on_the_same_object() -> None:
    owner = _change("mlcp-admin", "owner", Action.update)
    newcomer = _change("mlcp-admin", "newcomer", Action.update, blocked="namespace-ownership: …")
    for order in ((owner, newcomer), (newcomer, owner)):
        claims = _claims(_apply(*order))
        assert claims["mlcp-admin"].record.tenant == "owner" and claims["mlcp-admin"].wrote


def test_two_differing_noops_of_one_object_claim_nothing() -> None:
    claims = _claims(_apply(_change("x", "a", Action.noop), _change("x", "b", Action.noop)))
    assert "x" not in claims


def test_creates_are_recorded_before_anything_is_written_and_without_advancing_the_revision() -> None:
    create = _change("new-ns", "a", Action.create, live=None)
    blocked = _change("refused-ns", "evil", Action.create, blocked="namespace-ownership: …", live=None)
    backend = _apply(create, blocked, _change("other", "a", Action.update))
    assert backend.events[0] == "record" and backend.events[-1] == "record"
    ahead = backend.recorded[0][1]
    assert {r.name for r in ahead.claims} == {"new-ns"} and ahead.revision is None
    assert ahead.claims[create.ref].wrote


@dataclass
class LostAnswers(Recorder):
    """Creates fail: `uncertain` ones as a timed-out answer would, the others as a refusal."""

    uncertain: bool = True

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        self.events.append(f"apply {change.ref.name}")
        return Outcome(change, Status.failed, "read timed out", uncertain=self.uncertain)


@pytest.mark.parametrize("uncertain", [True, False])
def test_a_create_whose_answer_was_lost_keeps_the_record_made_before_it(uncertain: bool) -> None:
    """It may have happened (Outcome.uncertain): the next pass must find it as mlcp's. A create the server
    refused (a 4xx) did not happen: its record goes, so nothing of a stranger's is ever kept as mlcp's."""
    create = _change("new-ns", "a", Action.create, live=None)
    backend = LostAnswers(uncertain=uncertain)
    apply_plan(Plan(changes=(create,)), {"kubernetes": backend}, ApplyOptions(revision="r2"), authorize=unchecked)
    refs, options = backend.recorded[-1]
    if uncertain:
        assert create.ref in refs and options.claims[create.ref].wrote
        assert options.claims[create.ref].record.tenant == "a"
    else:
        assert create.ref not in refs and create.ref not in options.claims


def test_a_noop_plan_records_once_at_the_end_only() -> None:
    backend = _apply(_change("same", "a", Action.noop))
    assert backend.events == ["record"]


def test_the_kubernetes_inventory_is_not_rewritten_by_a_noop_apply() -> None:
    """Through the real backend's record_inventory, with the claims of a no-op plan: no request at all."""
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"
    kube = KubernetesBackend(KubeClient(ApiClient(configuration)))
    same = _change("same", "a", Action.noop)
    claims = _apply(same).recorded[-1][1].claims
    kube._inventory = Inventory(frozenset({same.ref}), "5", "r1", {same.ref: claims[same.ref].record})
    sent: list[str] = []

    def request(method: str, *args: object, **kwargs: object) -> dict[str, object]:
        sent.append(method)
        return {}

    kube.client.request = request  # type: ignore[method-assign]
    kube.record_inventory(frozenset({same.ref}), ApplyOptions(revision="r1", claims=claims))
    assert sent == []
    kube.record_inventory(frozenset({same.ref}), ApplyOptions(revision="r2", claims=claims))
    assert sent == ["PATCH"] * (2 + len(PIECES)), "a new revision is written (namespace, every piece, the index)"


@dataclass
class EventJournal:
    """A journal that logs into the backend's event list, and can refuse like an unwritable audit log."""

    events: list[str]
    broken: bool = False

    def intend(self, changes: Sequence[Change], finished: Sequence[Outcome]) -> None:
        if self.broken:
            raise AuditError("cannot append to the audit log: the disk is full")
        self.events.append(f"intend {[c.ref.name for c in changes]} finished {[o.change.ref.name for o in finished]}")

    def record(self, outcomes: Sequence[Outcome]) -> None:
        self.events.append(f"outcomes {[o.change.ref.name for o in outcomes]}")


def test_intents_come_before_the_first_write_and_outcomes_after_the_writes() -> None:
    backend = Recorder()
    changes = (
        _change("ns", "nlp", Action.create),
        _change("blocked", "nlp", Action.update, blocked="denied"),
        replace(_change("quota", "nlp", Action.update), rank=50),
    )
    journal = EventJournal(backend.events)
    apply_plan(
        Plan(changes=changes), {"kubernetes": backend}, ApplyOptions(revision="r2"), audit=journal, authorize=unchecked
    )
    assert backend.events[:3] == ["intend ['ns', 'quota'] finished ['blocked']", "record", "apply ns"]
    # The create was inventoried ahead ("record"); the quota (rank 50, same namespace) waits for the namespace's
    # write; outcomes are appended after their writes (a chunk at a time), the final inventory last.
    assert backend.events[3:] == ["apply quota", "outcomes ['ns', 'quota']", "record"]


def _lanes(tenants: int, per_tenant: int) -> list[Change]:
    """`tenants` namespaces with `per_tenant` ranks of one create each inside, in plan order."""
    out = []
    for t in range(tenants):
        ns = f"t{t}"
        out.append(
            replace(
                _change(ns, ns, Action.create, live=None),
                ref=ObjectRef("kubernetes", "v1", "Namespace", None, ns),
                rank=10,
            )
        )
        for r in range(per_tenant):
            ref = ObjectRef("kubernetes", "v1", "ServiceAccount", ns, f"sa{r}")
            out.append(replace(_change(f"sa{r}", ns, Action.create, live=None), ref=ref, rank=20 + r))
    return out


@dataclass
class Watched(Recorder):
    """Records, per write, which intents were open and which creates were inventoried when it was sent."""

    intended: set[ObjectRef] = field(default_factory=set)
    seen: list[tuple[ObjectRef, bool, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        with self.lock:
            inventoried = any(change.ref in o.claims for _, o in self.recorded)
            self.seen.append((change.ref, change.ref in self.intended, inventoried))
        return super().apply(change, options)


def test_every_write_has_its_intent_and_every_create_its_record_before_it_is_sent() -> None:
    """Intents and records ahead are written in chunks while writes are in flight: each still comes first."""
    backend = Watched()

    class Intents(EventJournal):
        def intend(self, changes: Sequence[Change], finished: Sequence[Outcome]) -> None:
            with backend.lock:
                backend.intended.update(c.ref for c in changes)
                super().intend(changes, finished)

    changes = _lanes(600, 4)
    journal = Intents(backend.events)
    report = apply_plan(
        Plan(changes=tuple(changes)),
        {"kubernetes": backend},
        ApplyOptions(revision="r2"),
        audit=journal,
        authorize=unchecked,
        concurrency=16,
    )
    assert len(backend.seen) == len(changes) == len(report.outcomes) == 3000
    assert all(intended and inventoried for _, intended, inventoried in backend.seen)
    intents = [e for e in backend.events if e.startswith("intend")]
    assert len(intents) > 1, "intents are written in chunks, not all before the first write"
    last_intent = max(i for i, e in enumerate(backend.events) if e.startswith("intend"))
    first_outcome = min(i for i, e in enumerate(backend.events) if e.startswith("outcomes"))
    assert last_intent < first_outcome, "a turn's intents are one run: the next turn finds open ones in it"
    records = [e for e in backend.events if e == "record"]
    assert 2 <= len(records) <= 8, "creates are recorded ahead in a few growing runs, plus the final inventory"
    assert backend.recorded[-1][1].revision == "r2" and all(o.revision is None for _, o in backend.recorded[:-1])


def test_the_first_write_starts_before_the_last_intents_are_written() -> None:
    """The API server gets work at once: a later chunk of intents is written while the first writes fly."""
    first_write = threading.Event()

    class Signalling(Recorder):
        def apply(self, change: Change, options: ApplyOptions) -> Outcome:
            first_write.set()
            return super().apply(change, options)

    backend = Signalling()

    class Late(EventJournal):
        def intend(self, changes: Sequence[Change], finished: Sequence[Outcome]) -> None:
            if self.events and not first_write.wait(10):
                raise AssertionError("a later chunk of intents waited for nothing: no write had started")
            super().intend(changes, finished)

    apply_plan(
        Plan(changes=tuple(_lanes(200, 1))),
        {"kubernetes": backend},
        ApplyOptions(revision="r2"),
        audit=Late(backend.events),
        authorize=unchecked,
        concurrency=4,
    )
    assert first_write.is_set() and len([e for e in backend.events if e.startswith("intend")]) > 1


def test_a_namespace_s_next_rank_does_not_wait_for_the_other_namespaces() -> None:
    """Tenant t0's ServiceAccount is written while tenant t1's Namespace is still in flight: rank order holds
    within a namespace, not across the whole plan (a rank-wide barrier would wait here, and time out)."""
    t0_sa = threading.Event()

    class Blocking(Recorder):
        def apply(self, change: Change, options: ApplyOptions) -> Outcome:
            if change.ref.kind == "Namespace" and change.ref.name == "t1":
                assert t0_sa.wait(10), "t1's namespace was waited for by t0's service account"
            if change.ref.namespace == "t0":
                t0_sa.set()
            return super().apply(change, options)

    backend = Blocking()
    report = apply_plan(
        Plan(changes=tuple(_lanes(2, 1))), {"kubernetes": backend}, ApplyOptions(), authorize=unchecked, concurrency=4
    )
    assert [o.status for o in report.outcomes] == [Status.applied] * 4


def test_a_log_that_fails_after_writes_began_stops_the_writes_after_those_in_flight() -> None:
    failed = threading.Event()

    class Outpaced(Recorder):
        """Outcomes are recorded a chunk at a time (writeloop.CHUNK): the write after a chunk's worth waits (once)
        for the log to fail, then a moment for the apply to see it, so a fake backend cannot finish every write
        before the log's first record on a loaded machine."""

        def apply(self, change: Change, options: ApplyOptions) -> Outcome:
            if sum(e.startswith("apply") for e in self.events) == writeloop.CHUNK + 44 and failed.wait(10):
                time.sleep(0.5)
            return super().apply(change, options)

    backend = Outpaced()
    changes = tuple(_lanes(300, 2))

    class FailingRecords(EventJournal):
        def record(self, outcomes: Sequence[Outcome]) -> None:
            failed.set()
            raise AuditError("cannot append to the audit log: the disk is full")

    with pytest.raises(AuditError):
        apply_plan(
            Plan(changes=changes),
            {"kubernetes": backend},
            ApplyOptions(revision="r2"),
            audit=FailingRecords(backend.events),
            authorize=unchecked,
            concurrency=1,
        )
    writes = [e for e in backend.events if e.startswith("apply")]
    assert writes[0] == "apply t0" and len(writes) < len(changes), "no write starts after the log failed"
    assert backend.recorded[-1][1].revision is None, "the final inventory is not written after an audit failure"


def test_a_record_ahead_that_fails_stops_the_writes_it_was_for() -> None:
    """A create is never sent before its inventory record: when a later record ahead fails, the creates it
    was for are not written, and the error is raised (the writes already done keep their records)."""

    @dataclass
    class FailingAhead(Recorder):
        sent: list[ObjectRef] = field(default_factory=list)

        def apply(self, change: Change, options: ApplyOptions) -> Outcome:
            self.sent.append(change.ref)
            return super().apply(change, options)

        def record_inventory(self, refs: frozenset[ObjectRef], options: ApplyOptions) -> None:
            if self.recorded:
                raise BackendError("writing mlcp's inventory failed: HTTP 500")
            super().record_inventory(refs, options)

    backend = FailingAhead()
    with pytest.raises(BackendError):
        apply_plan(Plan(changes=tuple(_lanes(300, 2))), {"kubernetes": backend}, ApplyOptions(), authorize=unchecked)
    recorded = set(backend.recorded[0][1].claims)
    assert backend.sent and set(backend.sent) <= recorded and len(recorded) < 900


def test_a_journal_that_cannot_write_stops_apply_before_anything_is_written() -> None:
    backend = Recorder()
    journal = EventJournal(backend.events, broken=True)
    with pytest.raises(AuditError):
        apply_plan(
            Plan(changes=(_change("ns", "nlp", Action.create),)),
            {"kubernetes": backend},
            ApplyOptions(revision="r2"),
            audit=journal,
            authorize=unchecked,
        )
    assert backend.events == [], "no inventory write, no object write"


def test_apply_writes_only_what_authorize_lets_through() -> None:
    """`authorize` is the last word before each write; the loop and `mlcp apply` pass `settling.decided`."""
    allowed = replace(_change("ok", "a", Action.create), decision=Decision(True, "r", "", ("alice@x",)))
    denied = replace(_change("no", "a", Action.create), decision=Decision(False, "default-deny", "nobody", ()))
    undecided = _change("never-judged", "a", Action.create)
    backend = Recorder()
    report = apply_plan(
        Plan(changes=(allowed, denied, undecided)), {"kubernetes": backend}, ApplyOptions(), authorize=decided
    )
    assert [e for e in backend.events if e.startswith("apply")] == ["apply ok"]
    messages = {o.change.ref.name: (o.status, o.message) for o in report.outcomes}
    assert messages["no"] == (Status.skipped, "denied (default-deny): nobody")
    assert messages["never-judged"][0] is Status.skipped and "no decision" in messages["never-judged"][1]


def test_a_large_apply_through_a_real_journal_leaves_a_verified_log_with_every_intent_closed(tmp_path: Path) -> None:
    """More changes than one chunk, through the file log held for the turn by this thread (its lock is
    re-entrant for this thread only: every append must come from it), as `mlcp apply` runs it."""
    store = JsonlStore(tmp_path / "audit.jsonl")
    changes = tuple(_lanes(300, 2))
    plan = Plan(changes=changes, revision="0" * 40)
    journal = Journal(store, plan, actors=["bench@example.com"])
    with store.exclusive():
        report = apply_plan(
            plan, {"kubernetes": Recorder()}, ApplyOptions(), authorize=unchecked, audit=journal, concurrency=8
        )
    assert len(report.outcomes) == len(changes) and not report.failed
    assert store.verify().ok
    records = list(store.records())
    assert sum(r.is_intent for r in records) == len(changes) == sum(r.intent is not None for r in records)
    assert open_intents(store.tail()) == []


# -- a write that must not outrun one that did not work (apply_order.prerequisite) ---------------------------

PROMOTION = SpecKey.parse("ModelPromotion/t/p")
ALIAS = ObjectRef("mlflow", "mlflow/v1", "ModelAlias", None, "m@production")
SERVICE = ObjectRef("kubernetes", "serving.kserve.io/v1beta1", "InferenceService", "t", "p")


@dataclass
class Refuses(Recorder):
    """Applies everything but what `refused` names, which fails with its message (its answer lost: uncertain)."""

    refused: dict[ObjectRef, str] = field(default_factory=dict)
    uncertain: bool = False

    def apply(self, change: Change, options: ApplyOptions) -> Outcome:
        if change.ref in self.refused:
            self.events.append(f"refused {change.ref.name}")
            return Outcome(change, Status.failed, self.refused[change.ref], uncertain=self.uncertain)
        return super().apply(change, options)


def _promotion() -> tuple[Change, Change]:
    move = Change(
        ALIAS,
        Action.update,
        "moves m@production from version 3 to version 5",
        PROMOTION,
        "t",
        "p.yaml",
        65,
        desired={"model": "m", "alias": "production", "version": "5"},
        live_version="3",
    )
    manifest = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "p", "namespace": "t", "annotations": {"mlcp.dev/serves-alias": "m@production"}},
        "spec": {"predictor": {"model": {"storageUri": "s3://m/5"}}},
    }
    serve = Change(
        SERVICE, Action.update, "storageUri differs", PROMOTION, "t", "p.yaml", 70, desired=manifest, live_version="7"
    )
    return move, serve


def _outcomes(report: applying.ApplyReport) -> dict[str, tuple[Status, str]]:
    return {o.change.ref.kind: (o.status, o.message) for o in report.outcomes}


@pytest.mark.parametrize("uncertain", [False, True])
def test_a_failed_alias_move_does_not_repoint_serving(uncertain: bool) -> None:
    # someone moved the alias between plan and apply (compare-and-set refused), or the move's answer was lost:
    # before, the InferenceService was rewritten to version 5's artifacts while the alias stayed at 3
    move, serve = _promotion()
    registry = Refuses(system="mlflow", order=10, uncertain=uncertain)
    registry.refused[ALIAS] = "compare-and-set refused: m@production was at 3 when planned and is at 4 now"
    cluster = Recorder()
    report = apply_plan(
        Plan(changes=(move, serve)), {"mlflow": registry, "kubernetes": cluster}, ApplyOptions(), authorize=unchecked
    )
    assert not [e for e in cluster.events if e.startswith("apply")], "serving keeps what it serves"
    status, message = _outcomes(report)["InferenceService"]
    assert status is Status.skipped
    assert message == (
        "not written: the alias move m@production did not apply (failed: compare-and-set refused: m@production was "
        "at 3 when planned and is at 4 now); the alias move and the serving change of ModelPromotion/t/p apply "
        "together or not at all"
    )
    assert SERVICE not in _claims(cluster), "claims nothing: it was not written"


def test_an_alias_move_denied_at_apply_or_whose_registry_is_gone_does_not_repoint_serving() -> None:
    move, serve = _promotion()
    cluster = Recorder()
    denied = replace(move, decision=Decision(False, "freeze-window", "held by window weekend", ()))
    allowed = replace(serve, decision=Decision(True, "tenant-owner", "", ("alice@x",)))
    report = apply_plan(
        Plan(changes=(denied, allowed)),
        {"mlflow": Recorder(system="mlflow", order=10), "kubernetes": cluster},
        ApplyOptions(),
        authorize=decided,
    )
    assert _outcomes(report)["InferenceService"][1].startswith(
        "not written: the alias move m@production did not apply (skipped: denied (freeze-window)"
    )
    report = apply_plan(Plan(changes=_promotion()), {"kubernetes": cluster}, ApplyOptions(), authorize=unchecked)
    assert _outcomes(report)["InferenceService"][1].startswith(
        "not written: the alias move m@production did not apply (not written: its system is not reachable)"
    )
    assert not [e for e in cluster.events if e.startswith("apply")]


def test_a_moved_alias_repoints_serving_after_it() -> None:
    registry, cluster = Recorder(system="mlflow", order=10), Recorder()
    events = registry.events = cluster.events = []
    report = apply_plan(
        Plan(changes=_promotion()), {"mlflow": registry, "kubernetes": cluster}, ApplyOptions(), authorize=unchecked
    )
    assert events[:2] == ["apply m@production", "apply p"]
    assert {o.status for o in report.outcomes} == {Status.applied}


def test_nothing_is_written_into_a_namespace_whose_create_failed() -> None:
    # the namespace appeared since the plan (someone else made it, ready for a take-over): before, its create
    # failed and the tenant's RoleBindings, binding the tenant's owners as admins, were written into it anyway
    namespace, account = _lanes(1, 1)
    binding = replace(
        _change("owners-admin", "t0", Action.create, live=None),
        ref=ObjectRef("kubernetes", "rbac.authorization.k8s.io/v1", "RoleBinding", "t0", "owners"),
        rank=30,
    )
    other = _lanes(2, 1)[2:]  # another tenant's namespace and account: unaffected
    backend = Refuses()
    backend.refused[namespace.ref] = "namespace-ownership: namespace 't0' exists and mlcp did not create it"
    report = apply_plan(
        Plan(changes=(namespace, account, binding, *other)),
        {"kubernetes": backend},
        ApplyOptions(),
        authorize=unchecked,
    )
    applied = [e for e in backend.events if e.startswith("apply")]
    assert applied == ["apply t1", "apply sa0"] and other[1].ref.namespace == "t1"
    skipped = {o.change.ref.name: o.message for o in report.outcomes if o.status is Status.skipped}
    assert set(skipped) == {"sa0", "owners"}
    assert skipped["owners"].startswith("not written: namespace t0 did not apply (failed: namespace-ownership:")
    assert skipped["owners"].endswith("; nothing is written into a namespace mlcp did not make")


def test_no_grant_is_made_on_an_experiment_whose_create_failed() -> None:
    # an experiment of the declared name exists and is not mlcp's: its create fails, and the grant, looked up by
    # name, would have given the tenant's people a permission on someone else's experiment
    experiment = Change(
        ObjectRef("mlflow", "mlflow/v1", "Experiment", None, "t/exp"),
        Action.create,
        "new",
        SpecKey.parse("Experiment/t/exp"),
        "t",
        "e.yaml",
        60,
        desired={"name": "t/exp"},
    )
    grant = Change(
        ObjectRef("mlflow", "mlflow/v1", "ExperimentPermission", None, "t/exp#bob"),
        Action.create,
        "grant",
        SpecKey.parse("Experiment/t/exp"),
        "t",
        "e.yaml",
        61,
        desired={"experiment": "t/exp", "user": "bob", "permission": "EDIT"},
    )
    model_grant = Change(
        ObjectRef("mlflow", "mlflow/v1", "RegisteredModelPermission", None, "m#bob"),
        Action.create,
        "grant",
        PROMOTION,
        "t",
        "p.yaml",
        66,
        desired={"model": "m", "user": "bob", "permission": "EDIT"},
    )
    registry = Refuses(system="mlflow", order=10)
    registry.refused[experiment.ref] = "an experiment named 't/exp' already exists and mlcp did not create it"
    report = apply_plan(
        Plan(changes=(experiment, grant, model_grant)), {"mlflow": registry}, ApplyOptions(), authorize=unchecked
    )
    assert [e for e in registry.events if e.startswith("apply")] == ["apply m#bob"]
    assert _outcomes(report)["ExperimentPermission"][1] == (
        "not written: experiment 't/exp' did not apply (failed: an experiment named 't/exp' already exists and mlcp "
        "did not create it); no grant is made on an experiment mlcp did not make"
    )


def test_a_write_that_follows_one_the_fence_did_not_attempt_is_not_attempted_either() -> None:
    # the lease was lost before the alias move: the serving change is abandoned with it, not failed, so the pass
    # counts it as not attempted (the next leader picks both up) and no tenant is blamed for it
    registry = FencedBackend(Recorder(system="mlflow", order=10), Fence(leading=lambda: False))
    cluster = Recorder()
    report = apply_plan(Plan(changes=_promotion()), {"mlflow": registry, "kubernetes": cluster}, ApplyOptions(),
                        authorize=unchecked)  # fmt: skip
    outcome = next(o for o in report.outcomes if o.change.ref == SERVICE)
    assert not was_attempted(outcome) and not [e for e in cluster.events if e.startswith("apply")]
    assert outcome.message.startswith(
        "not attempted: the alias move m@production was not attempted (this replica does not hold the lease)"
    )
