"""An index by ref derived step by step is the index built from scratch, duplicates (two declarers) included."""

from __future__ import annotations

import random

from controlplane.plans import DesiredObject, ObjectRef, SpecKey
from reconciler.refindex import RefIndex


def _obj(name: str, tenant: str) -> DesiredObject:
    ref = ObjectRef("kubernetes", "v1", "ConfigMap", "shared", name)
    spec = SpecKey("Tenant", tenant, tenant)
    return DesiredObject(ref, {"metadata": {"name": name}}, spec, tenant, f"tenants/{tenant}/tenant.yaml", 1)


def _content(index: RefIndex) -> dict[ObjectRef, list[int]]:
    return {ref: sorted(map(id, index.declaring(ref))) for ref in index.first}


def test_replacing_objects_gives_the_index_a_full_build_gives() -> None:
    rnd = random.Random(16)
    objects = [_obj(f"o{rnd.randrange(6)}", f"t{i}") for i in range(12)]  # few names: many refs declared twice
    index = RefIndex.of(objects)
    for _ in range(200):
        gone = rnd.sample(objects, rnd.randrange(min(4, len(objects)) + 1))
        new = [_obj(f"o{rnd.randrange(6)}", f"n{rnd.randrange(99)}") for _ in range(rnd.randrange(4))]
        before = _content(index)
        derived = index.replaced(gone, new)
        assert _content(index) == before, "the last revision's index is left as it was"
        objects = [o for o in objects if all(o is not g for g in gone)] + new
        assert _content(derived) == _content(RefIndex.of(objects))
        assert all(index_list for index_list in derived.again.values()), "no empty duplicate lists kept"
        index = derived


def test_declaring_names_every_declarer_and_nothing_for_an_unknown_ref() -> None:
    a, b = _obj("x", "a"), _obj("x", "b")
    index = RefIndex.of([a, b])
    assert index.declaring(a.ref) == [a, b]
    assert index.declaring(ObjectRef("kubernetes", "v1", "ConfigMap", "shared", "y")) == []
    assert index.replaced([a], []).declaring(a.ref) == [b]
