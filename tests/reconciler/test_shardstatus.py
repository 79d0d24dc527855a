"""`mlcp shards`' reading of the controller namespace's Leases: holders, agreement on N, tenants' shards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler import sharding
from reconciler.leases import LEADER_LEASE
from reconciler.membership import SHARDS_ANNOTATION, member_lease
from reconciler.shardstatus import status

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def _lease(name: str, holder: str | None, age: float = 1.0, duration: Any = 15, **annotations: str) -> dict[str, Any]:
    renewed = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec: dict[str, Any] = {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": duration}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def _member(who: str, shards: str | None, age: float = 1.0) -> dict[str, Any]:
    return _lease(member_lease(who), who, age, **({SHARDS_ANNOTATION: shards} if shards is not None else {}))


def test_holders_members_and_a_tenants_shard() -> None:
    leases = [
        _lease(LEADER_LEASE, "r1"),
        _member("r1", "4"),
        _member("r2", "4"),
        *(_lease(sharding.lease_name(s), "r1" if s < 2 else "r2") for s in range(4)),
    ]
    found = status("mlcp-system", leases, NOW, ["vision", "nlp"])
    assert found.sharded and found.shards == 4 and found.numbers == {4}
    assert found.leader is not None and found.leader.holder == "r1" and not found.leader.expired
    assert [m.identity for m in found.members] == ["r1", "r2"]
    assert {s: h.holder for s, h in found.leases.items()} == {0: "r1", 1: "r1", 2: "r2", 3: "r2"}
    for entry in found.tenants:
        assert entry.shard == sharding.shard_of(entry.tenant, 4)
        assert entry.holder == ("r1" if entry.shard < 2 else "r2")
    as_json = found.to_dict()
    assert as_json["agree"] and as_json["leases"][0] == {
        "shard": 0,
        "holder": "r1",
        "renewTime": "2026-12-01T11:59:59Z",
        "leaseDurationSeconds": 15.0,
        "expired": False,
    }


def test_a_lease_run_out_has_no_holder_for_its_tenants() -> None:
    leases = [_member("r1", "1"), _lease(sharding.lease_name(0), "r-dead", age=60)]
    found = status("ns", leases, NOW, ["vision"])
    assert found.leases[0].expired and found.leases[0].holder == "r-dead", "who held it last is still shown"
    [entry] = found.tenants
    assert entry.shard == 0 and entry.holder is None


def test_members_that_disagree_leave_tenants_unplaced_and_say_so() -> None:
    leases = [_member("r1", "4"), _member("r2", "6"), _member("r-gone", "8", age=600)]
    found = status("ns", leases, NOW, ["vision"])
    assert found.shards is None and found.numbers == {4, 6}, "a member whose Lease ran out does not count"
    assert not found.tenants and not found.to_dict()["agree"]


def test_an_unsharded_controller_is_told_apart() -> None:
    found = status("ns", [_lease(LEADER_LEASE, "r1")], NOW, ["vision"])
    assert not found.sharded and found.shards is None and not found.tenants
    assert found.leader is not None and found.leader.holder == "r1"


def test_odd_leases_are_read_without_failing() -> None:
    """Leases are written by whoever may write Leases there; none of their contents can make the view fail."""
    leases: list[Any] = [
        {},
        {"metadata": None, "spec": None},
        _lease("mlcp-shard-x", "r1"),
        _lease("mlcp-shard-", "r1"),
        _lease("mlcp-shard-²", "r1"),  # isdigit, but int() raises
        _lease("mlcp-shard-١", "r1"),  # isdigit, and int() reads 1
        _lease("mlcp-shard-" + "9" * 5000, "r1"),  # more digits than int() reads
        _lease(sharding.lease_name(0), "r1", duration="forever"),
        {"metadata": {"name": sharding.lease_name(1)}, "spec": {"holderIdentity": "r1", "renewTime": "yesterday"}},
        _member("r1", "99999999999"),
        _member("r2", "-3"),
        _member("r4", "²"),
        {"metadata": {"name": member_lease("r3"), "annotations": {SHARDS_ANNOTATION: "2"}}, "spec": {}},
    ]
    found = status("ns", leases, NOW, ["vision"])
    assert set(found.leases) == {0, 1}
    assert found.leases[0].expired, "no duration: run out at once"
    assert found.leases[1].renewed is None and found.leases[1].expired
    assert [(m.identity, m.shards) for m in found.members] == [("r1", None), ("r2", None), ("r4", None)], (
        "no holder: no member"
    )
    assert found.shards is None and not found.tenants
