"""The API server's paging rule that benchmarks/listbound.py counts on: a full page may not be the last.

A LIST with a label selector and `limit` reads the key range in order and stops when the page is full. If
objects the selector does not match follow in the same range, the server cannot know that none of them match
without reading on, so it answers the full page with a continue token, and the client's next LIST returns
nothing. If nothing follows, the full page is the last. The benchmarks' request bound allows that one extra
LIST for an exactly full last page; this pins the behaviour it is based on against the real API server.
(kube-root-ca.crt, which the controller-manager adds to every namespace, sorts between the names used here
and is unselected, so it changes neither case.)
"""

from __future__ import annotations

import pytest
from kubernetes import client

pytestmark = pytest.mark.integration

SELECTOR = "app.kubernetes.io/managed-by=mlcp"


def _config_maps(core: client.CoreV1Api, namespace: str, names: list[str], *, selected: bool) -> None:
    labels = {"app.kubernetes.io/managed-by": "mlcp"} if selected else {"other": "tool"}
    for name in names:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}, "data": {}})


def _page(core: client.CoreV1Api, namespace: str, limit: int) -> tuple[int, bool]:
    listed = core.list_namespaced_config_map(namespace, label_selector=SELECTOR, limit=limit)
    return len(listed.items), bool(listed.metadata._continue)


def test_a_full_page_followed_by_unselected_objects_carries_a_continue_token(
    k8s_admin: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s_admin)
    _config_maps(core, namespace, ["a0", "a1", "a2"], selected=True)
    _config_maps(core, namespace, ["z0", "z1"], selected=False)  # after the selected ones in key order
    first = core.list_namespaced_config_map(namespace, label_selector=SELECTOR, limit=3)
    assert len(first.items) == 3 and first.metadata._continue, "the page is full and unselected keys follow: a token"
    following = core.list_namespaced_config_map(
        namespace, label_selector=SELECTOR, limit=3, _continue=first.metadata._continue
    )
    assert following.items == [] and not following.metadata._continue, "the extra LIST returns nothing"
    assert _page(core, namespace, 4) == (3, False), "a page that is not full is the last"


def test_a_full_page_with_nothing_after_it_is_the_last(k8s_admin: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s_admin)
    _config_maps(core, namespace, ["a0", "a1"], selected=False)  # before the selected ones in key order
    _config_maps(core, namespace, ["m0", "m1", "m2"], selected=True)
    assert _page(core, namespace, 3) == (3, False)
