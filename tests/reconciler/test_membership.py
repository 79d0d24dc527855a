"""A LIST of the controller's Leases read as a roster: live members and their numbers, shard and leader holders."""

from __future__ import annotations

from typing import Any

from reconciler.leases import LEADER_LEASE, LeaseSightings
from reconciler.membership import SHARDS_ANNOTATION, disagreement, member_lease, outsider, read


def _lease(name: str, holder: str | None, shards: int | None = None, renewed: str = "t1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if shards is not None:
        meta["annotations"] = {SHARDS_ANNOTATION: str(shards)}
    return {"metadata": meta, "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 15}}


def test_a_listing_names_the_live_members_their_numbers_and_the_holders_of_shards_and_leader() -> None:
    listing = {
        "items": [
            _lease(member_lease("a"), "a", 4),
            _lease(member_lease("b"), "b"),
            _lease(LEADER_LEASE, "a"),
            _lease("mlcp-shard-1", "b"),
            _lease("mlcp-shard-9", "b"),  # beyond the number of shards: no shard
            _lease("mlcp-shard-x", "b"),
            _lease("other", "c"),
        ]
    }
    roster = read(listing, LeaseSightings(), 100.0, 4)
    assert roster.members == {"a", "b"}
    assert dict(roster.numbers) == {"a": "4"}
    assert roster.leader == "a"
    assert roster.shards == ((1, "b", 100.0),)
    assert "other" in roster.seen and len(roster.seen) == 7


def test_a_record_that_stood_still_for_its_duration_is_no_member_and_the_sightings_forget_leases_gone() -> None:
    sightings = LeaseSightings()
    read({"items": [_lease(member_lease("a"), "a"), _lease("gone", "z")]}, sightings, 0.0, 1)
    roster = read({"items": [_lease(member_lease("a"), "a")]}, sightings, 16.0, 1)
    assert roster.members == frozenset()
    assert set(sightings.seen) == {member_lease("a")}


def test_members_stating_another_number_are_named_and_a_non_member_leader_is_an_outsider() -> None:
    assert disagreement(4, {"a": "4", "b": "4"}) is None
    reason = disagreement(4, {"a": "4", "c": "8", "b": "2"})
    assert reason is not None and "this one 4, b: 2, c: 8" in reason
    assert (
        outsider(None, "a", {"b"}) is None and outsider("b", "a", {"b"}) is None and outsider("a", "a", set()) is None
    )
    assert "'apply-1'" in (outsider("apply-1", "a", {"b"}) or "")
