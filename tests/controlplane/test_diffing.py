"""Managed-field diff: only what mlcp sets (or still owns) can differ."""

from __future__ import annotations

from typing import Any

from controlplane.diffing import compact, managed_diff

DESIRED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "q", "namespace": "ns", "labels": {"app.kubernetes.io/managed-by": "mlcp"}},
    "spec": {"hard": {"requests.cpu": "2", "requests.memory": "1Gi"}},
}


def _live(**overrides: Any) -> dict[str, Any]:
    live: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "q",
            "namespace": "ns",
            "uid": "123",
            "resourceVersion": "7",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app.kubernetes.io/managed-by": "mlcp", "added-by-someone": "x"},
        },
        "spec": {"hard": {"requests.cpu": "2", "requests.memory": "1Gi"}},
        "status": {"used": {"requests.cpu": "0"}},
    }
    live.update(overrides)
    return live


def test_server_fields_and_foreign_labels_are_not_drift() -> None:
    assert managed_diff(DESIRED, _live()) == []


def test_changed_managed_field_is_reported_with_old_and_new() -> None:
    live = _live(spec={"hard": {"requests.cpu": "4", "requests.memory": "1Gi"}})
    [diff] = managed_diff(DESIRED, live)
    assert diff.path == ("spec", "hard", "requests.cpu")
    assert (diff.old, diff.new) == ("4", "2")
    assert diff.dotted == 'spec.hard["requests.cpu"]'


def test_quantities_compare_by_value() -> None:
    live = _live(spec={"hard": {"requests.cpu": "2000m", "requests.memory": "1024Mi"}})
    assert managed_diff(DESIRED, live) == []


def test_field_mlcp_owns_but_no_longer_declares_is_a_removal() -> None:
    live = _live()
    live["metadata"]["labels"]["team"] = "old"
    live["metadata"]["managedFields"] = [
        {
            "manager": "mlcp",
            "operation": "Apply",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}, "f:app.kubernetes.io/managed-by": {}}}},
        }
    ]
    [diff] = managed_diff(DESIRED, live)
    assert diff.path == ("metadata", "labels", "team")
    assert (diff.old, diff.new) == ("old", None)


def test_fields_owned_by_other_managers_are_ignored() -> None:
    live = _live()
    live["metadata"]["labels"]["x"] = "theirs"
    live["metadata"]["managedFields"] = [
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}}
    ]
    assert managed_diff(DESIRED, live) == []


def test_lists_are_compared_item_by_item_with_server_defaults_allowed() -> None:
    desired = {"spec": {"templates": [{"name": "a", "container": {"image": "i"}}]}}
    live = {"spec": {"templates": [{"name": "a", "container": {"image": "i", "imagePullPolicy": "Always"}}]}}
    assert managed_diff(desired, live) == []
    live["spec"]["templates"].append({"name": "b"})
    [diff] = managed_diff(desired, live)
    assert diff.path == ("spec", "templates")


def test_empty_desired_values_match_absent_live_ones() -> None:
    assert managed_diff({"spec": {"a": {}, "b": []}}, {"spec": {}}) == []


def test_dropped_subtree_reports_each_owned_leaf_and_lists_stay_whole() -> None:
    """Removals come from walking the field set beside the desired manifest; this pins what that walk finds."""
    desired: dict[str, Any] = {
        "metadata": {"name": "p", "labels": {"keep": "1"}},
        "spec": {"ports": [{"port": 80}], "scalar": "now-a-string"},
    }
    live: dict[str, Any] = {
        "metadata": {
            "name": "p",
            "labels": {"keep": "1"},
            "annotations": {"a": "x", "b": "y"},
            "managedFields": [
                {
                    "manager": "mlcp",
                    "operation": "Apply",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:labels": {"f:keep": {}},
                            "f:annotations": {"f:a": {}, "f:b": {}},
                        },
                        "f:spec": {
                            "f:ports": {'k:{"port":80}': {".": {}, "f:port": {}}},
                            "f:scalar": {"f:was-a-map": {}},
                            "f:selector": {"f:app": {}},
                        },
                        "f:status": {"f:phase": {}},
                    },
                },
                {"manager": "other", "operation": "Apply", "fieldsV1": {"f:spec": {"f:theirs": {}}}},
            ],
        },
        "spec": {"ports": [{"port": 80}], "scalar": {"was-a-map": "v"}, "selector": {"app": "a"}, "theirs": 1},
        "status": {"phase": "Ready"},
    }
    diffs = managed_diff(desired, live)
    removed = [(d.path, d.old) for d in diffs if d.new is None]
    assert removed == [
        (("metadata", "annotations", "a"), "x"),
        (("metadata", "annotations", "b"), "y"),
        (("spec", "scalar", "was-a-map"), "v"),
        (("spec", "selector", "app"), "a"),
    ]
    without_ports = {**desired, "spec": {"scalar": "now-a-string"}}
    dropped = [d.path for d in managed_diff(without_ports, live) if d.new is None and d.path[0] == "spec"]
    assert ("spec", "ports") in dropped, "a list's item set is one leaf: an owned list is dropped whole"


def _namespace_live() -> dict[str, Any]:
    """A Namespace as a LIST returns it (the shape of a real API server's answer), changed by hand: a label mlcp
    sets was edited with kubectl (which took the field over), another removed, and a label mlcp no longer
    declares is still there."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "team",
            "uid": "d9575247-7412-4cfb-9088-bbd6e6b3bcd2",
            "resourceVersion": "347",
            "creationTimestamp": "2026-11-30T09:56:39Z",
            "annotations": {"mlcp.dev/source": "tenants/team/tenant.yaml"},
            "labels": {
                "app.kubernetes.io/managed-by": "mlcp",
                "kubernetes.io/metadata.name": "team",
                "pod-security.kubernetes.io/enforce": "privileged",
                "retired": "yes",
            },
            "managedFields": [
                {
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:annotations": {"f:mlcp.dev/source": {}},
                            "f:labels": {
                                "f:app.kubernetes.io/managed-by": {},
                                "f:mlcp.dev/tenant": {},
                                "f:retired": {},
                            },
                        }
                    },
                    "manager": "mlcp",
                    "operation": "Apply",
                    "time": "2026-11-30T09:56:39Z",
                },
                {
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:pod-security.kubernetes.io/enforce": {}}}},
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "time": "2026-11-30T10:01:00Z",
                },
                {
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:phase": {}}},
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "time": "2026-11-30T09:56:40Z",
                },
            ],
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


NAMESPACE_DESIRED: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
        "name": "team",
        "annotations": {"mlcp.dev/source": "tenants/team/tenant.yaml"},
        "labels": {
            "app.kubernetes.io/managed-by": "mlcp",
            "mlcp.dev/tenant": "team",
            "pod-security.kubernetes.io/enforce": "baseline",
        },
    },
}


def test_a_compacted_live_object_diffs_exactly_as_the_whole_one() -> None:
    """Drift found on the whole object (a hand-edited field, a removed one, one mlcp owns but dropped) is found
    identically on the compacted one, and an up-to-date object stays without false drift."""
    whole = _namespace_live()
    drifted = managed_diff(NAMESPACE_DESIRED, whole)
    assert {d.path for d in drifted} == {
        ("metadata", "labels", "mlcp.dev/tenant"),
        ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
        ("metadata", "labels", "retired"),
    }
    assert managed_diff(NAMESPACE_DESIRED, compact(_namespace_live())) == drifted

    healed = _namespace_live()
    healed["metadata"]["labels"].update({"mlcp.dev/tenant": "team", "pod-security.kubernetes.io/enforce": "baseline"})
    del healed["metadata"]["labels"]["retired"]
    assert managed_diff(NAMESPACE_DESIRED, healed) == []
    assert managed_diff(NAMESPACE_DESIRED, compact(healed)) == []


def test_compact_keeps_only_mlcps_applied_field_set_and_what_an_apply_can_set() -> None:
    live = compact(_namespace_live())
    meta = live["metadata"]
    assert meta["managedFields"] == [
        {
            "manager": "mlcp",
            "operation": "Apply",
            "fieldsV1": _namespace_live()["metadata"]["managedFields"][0]["fieldsV1"],
        }
    ], "other managers' entries and the per-write time and version are gone"
    assert not {"uid", "resourceVersion", "creationTimestamp"} & set(meta)
    assert "status" not in live
    assert live["spec"] == {"finalizers": ["kubernetes"]}, (
        "fields an apply can set stay: a desired manifest may set them"
    )
    assert meta["labels"]["retired"] == "yes"


def test_compact_of_an_object_mlcp_never_applied_has_no_field_set() -> None:
    live = _namespace_live()
    live["metadata"]["managedFields"] = live["metadata"]["managedFields"][1:]
    assert "managedFields" not in compact(live)["metadata"]
    assert ("metadata", "labels", "retired") not in {d.path for d in managed_diff(NAMESPACE_DESIRED, live)}


def test_a_selector_is_compared_whole_so_a_narrowed_empty_selector_is_drift() -> None:
    """A member narrowed the tenant NetworkPolicy's `podSelector: {}` (every pod) to match no pod: the namespace
    was open and the walk of the desired empty map found nothing to compare."""
    desired = {"kind": "NetworkPolicy", "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    narrowed = {"kind": "NetworkPolicy", "spec": {"podSelector": {"matchLabels": {"no-pod": "x"}}}}
    [diff] = managed_diff(desired, {**narrowed, "spec": {**narrowed["spec"], "policyTypes": ["Ingress"]}})
    assert diff.path == ("spec", "podSelector") and diff.new == {}
    ingress = {"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}
    widened = {"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}, "matchExpressions": []}}]}
    assert not managed_diff({"spec": {"ingress": [ingress]}}, {"spec": {"ingress": [widened]}}), "empty is empty"
    opened = {"from": [{"namespaceSelector": {}}]}
    assert managed_diff({"spec": {"ingress": [ingress]}}, {"spec": {"ingress": [opened]}}), "every namespace now"
