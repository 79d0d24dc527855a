"""`mlcp apply`'s turn on the leader's Lease against an in-memory API: refused when it cannot be taken."""

from __future__ import annotations

import pytest

from reconciler.applyturn import hold
from reconciler.backends.base import BackendError
from reconciler.backends.kubernetes import HttpError
from tests.reconciler.test_leader import FakeLeases


def test_an_apply_without_the_right_to_take_the_lease_is_told_at_once() -> None:
    api = FakeLeases()
    api.forbidden = True
    with pytest.raises(HttpError, match="forbidden"), hold(api, "ns", "cli", timeout=600):  # type: ignore[arg-type]
        raise AssertionError("never held")


def test_an_apply_is_refused_at_once_while_a_sharded_controller_holds_its_shards() -> None:
    api = FakeLeases()
    api.shard_zero = {"metadata": {"name": "mlcp-shard-0", "resourceVersion": "1"}, "spec": {"holderIdentity": "r1"}}
    turn = hold(api, "ns", "cli")  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=r"runs sharded.*nothing was applied"), turn:
        pytest.fail("the turn must not start")
    assert api.lease is None, "the leader's Lease was not even asked for"
