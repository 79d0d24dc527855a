"""The incremental loader gives exactly what loading the whole repo gives, while reading only changed tenants."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from controlplane import registry_names, validation
from controlplane.errors import Diagnostic, InvalidConfig
from controlplane.loading.repo import ConfigRepo, load_repo
from controlplane.plans import DesiredObject, ObjectRef, SpecKey
from reconciler import incremental, partition
from reconciler.incremental import IncrementalLoader
from reconciler.refindex import RefIndex

TEMPLATE = Path(__file__).resolve().parents[2] / "repo_template"
PROMOTION = "tenants/vision/promotions/detector-production.yaml"


def _commit(root: Path, message: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *ident, "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", *ident, "commit", "-qm", message], cwd=root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True)
    return head.stdout.strip()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(TEMPLATE, root)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    _commit(root, "initial")
    return root


def _same_as_full_load(loader: IncrementalLoader, root: Path, revision: str) -> partition.Partitioned:
    got = loader.load(root, revision)
    want = partition.load(root)
    assert [s.key for s in got.desired.repo.specs] == [s.key for s in want.desired.repo.specs]
    assert got.desired.objects == want.desired.objects
    grouped: dict[str, list[object]] = {}
    for obj in want.desired.objects:
        grouped.setdefault(obj.tenant or "", []).append(obj)
    assert got.desired.by_tenant is not None
    assert {t: sorted(map(id, objs)) for t, objs in got.desired.by_tenant.items() if objs} == {
        t: sorted(map(id, [o for o in got.desired.objects if (o.tenant or "") == t])) for t in grouped
    }, "the loader's grouping by tenant holds every object, under its own tenant"
    assert {t: [d.render() for d in ds] for t, ds in got.broken.items()} == {
        t: [d.render() for d in ds] for t, ds in want.broken.items()
    }
    assert got.desired.repo.files == want.desired.repo.files
    kept = {s.key for s in want.desired.repo.specs}
    for loaded in load_repo(root).specs:  # set-aside tenants' specs too: those must not be found
        found = got.desired.repo.spec(loaded.key)
        assert (found.key if found else None) == (loaded.key if loaded.key in kept else None), loaded.key
    assert got.desired.refs is not None
    carried, fresh = got.desired.refs(), RefIndex.of(got.desired.objects)
    assert {r: sorted(map(id, carried.declaring(r))) for r in carried.first} == {
        r: sorted(map(id, fresh.declaring(r))) for r in fresh.first
    }, "the index by ref derived from the last revision's is the one a full build gives"
    return got


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def test_only_the_changed_tenant_is_read_again_and_the_result_equals_a_full_load(root: Path) -> None:
    loader = IncrementalLoader()
    _same_as_full_load(loader, root, _head(root))
    assert loader.reloaded is None
    _edit(root, "tenants/vision/tenant.yaml", "role: edit", "role: view")
    _same_as_full_load(loader, root, _commit(root, "vision"))
    assert loader.reloaded == {"vision"}

    shutil.copytree(root / "tenants/nlp", root / "tenants/speech")
    _edit(root, "tenants/speech/tenant.yaml", "name: nlp", "name: speech")
    _edit(root, "tenants/speech/tenant.yaml", "namespace: nlp-team", "namespace: speech-team")
    _same_as_full_load(loader, root, _commit(root, "add speech"))
    assert loader.reloaded == {"speech"}

    shutil.rmtree(root / "tenants/speech")
    _same_as_full_load(loader, root, _commit(root, "remove speech"))
    assert loader.reloaded == {"speech"}


def _head(root: Path) -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def test_a_broken_tenant_is_set_aside_and_comes_back_when_fixed(root: Path) -> None:
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    (root / "tenants/nlp/quota.yaml").write_text("kind: [unclosed\n")
    got = _same_as_full_load(loader, root, _commit(root, "break nlp"))
    assert set(got.broken) == {"nlp"} and loader.reloaded == {"nlp"}
    assert not [o for o in got.desired.objects if o.tenant == "nlp"]
    shutil.copy(TEMPLATE / "tenants/nlp/quota.yaml", root / "tenants/nlp/quota.yaml")
    got = _same_as_full_load(loader, root, _commit(root, "fix nlp"))
    assert not got.broken and [o for o in got.desired.objects if o.tenant == "nlp"]


def test_a_change_outside_tenant_folders_reads_everything_again(root: Path) -> None:
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    (root / "README.md").write_text("changed\n")
    _same_as_full_load(loader, root, _commit(root, "readme"))
    assert loader.reloaded is None


def test_a_revision_that_does_not_descend_from_the_last_reads_everything_again(root: Path) -> None:
    loader = IncrementalLoader()
    first = _head(root)
    _edit(root, "tenants/vision/tenant.yaml", "role: edit", "role: view")
    second = _commit(root, "vision")
    loader.load(root, second)
    subprocess.run(["git", "checkout", "-q", "--detach", first], cwd=root, check=True)
    _same_as_full_load(loader, root, first)
    assert loader.reloaded is None


def test_tenants_promoting_the_same_model_are_rendered_again_together(root: Path) -> None:
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    (root / "tenants/nlp/promotions").mkdir()
    promotion = (root / PROMOTION).read_text()
    (root / "tenants/nlp/promotions/detector-production.yaml").write_text(promotion)
    got = _same_as_full_load(loader, root, _commit(root, "nlp promotes the vision model too"))
    assert "belongs to tenant 'vision'" in got.broken["nlp"][0].message  # only vision may promote it
    shutil.rmtree(root / "tenants/nlp/promotions")
    _same_as_full_load(loader, root, _commit(root, "only vision again"))


def test_a_global_problem_raises_and_the_next_revision_is_read_in_full(root: Path) -> None:
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    (root / "mlcp.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(InvalidConfig):
        loader.load(root, _commit(root, "break mlcp.yaml"))
    shutil.copy(TEMPLATE / "mlcp.yaml", root / "mlcp.yaml")
    _same_as_full_load(loader, root, _commit(root, "fix"))
    assert loader.reloaded is None


def _tenant(root: Path, name: str) -> None:
    """A new tenant folder with only its tenant.yaml (nlp's, renamed)."""
    (root / "tenants" / name).mkdir()
    text = (root / "tenants/nlp/tenant.yaml").read_text().replace("name: nlp", f"name: {name}")
    (root / "tenants" / name / "tenant.yaml").write_text(text.replace("namespace: nlp-team", f"namespace: {name}"))


def test_only_changed_slices_are_validated_again(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit to one tenant validates that tenant's slice (and the specs outside tenants/), not every spec."""
    validated: list[int] = []
    part = validation.validate_part

    def counted(slice_: ConfigRepo, names: frozenset[str]) -> list[Diagnostic]:
        validated.append(len(slice_.specs))
        return part(slice_, names)

    monkeypatch.setattr(validation, "validate_part", counted)
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    everything = sum(validated)
    validated.clear()
    _edit(root, "tenants/nlp/tenant.yaml", "role: edit", "role: view")
    _same_as_full_load(loader, root, _commit(root, "nlp"))
    specs = partition.load(root).desired.repo.specs
    nlp, shared = len([s for s in specs if s.tenant == "nlp"]), len([s for s in specs if s.tenant is None])
    assert sorted(validated) == sorted([nlp, shared]) and nlp + shared < everything == len(specs)


def test_a_new_tenant_that_owns_a_registry_name_another_claims_sets_the_claimer_aside(root: Path) -> None:
    """An attacker's one-folder commit: tenant `vision-detector` now owns the model `vision-detector` that vision
    promotes. Nothing in vision's slice changed, but its kept findings must not hide the new owner."""
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    _tenant(root, "vision-detector")
    got = _same_as_full_load(loader, root, _commit(root, "a tenant named after vision's model"))
    assert loader.reloaded == {"vision-detector"}
    assert "belongs to tenant 'vision-detector'" in got.broken["vision"][0].message
    shutil.rmtree(root / "tenants/vision-detector")
    got = _same_as_full_load(loader, root, _commit(root, "gone again"))
    assert not got.broken, "vision owns its model again"


def test_one_file_claiming_another_tenants_names_is_refused_and_the_owner_keeps_converging(root: Path) -> None:
    """A one-file commit to nlp that claims vision's MLflow experiment: nlp is set aside (its new file is the
    problem), vision is not, exactly as a whole-repo validation decides."""
    loader = IncrementalLoader()
    loader.load(root, _head(root))
    (root / "tenants/nlp/experiments/steal.yaml").write_text(
        "apiVersion: mlcp.dev/v1alpha1\nkind: Experiment\nmetadata: {name: steal}\n"
        "spec: {tracking: {name: vision/detector}}\n"
    )
    got = _same_as_full_load(loader, root, _commit(root, "nlp claims vision's experiment"))
    assert set(got.broken) == {"nlp"}, got.broken
    assert any("belongs to tenant 'vision'" in d.message for d in got.broken["nlp"])


def test_objects_taken_out_by_binary_search_are_those_a_filter_takes_out() -> None:
    """`_without` finds each removed object among its equals (two tenants declaring one ref sort together)."""
    rnd = random.Random(7)
    spec = SpecKey("Tenant", "t", "t")
    objects = sorted(
        (
            DesiredObject(
                ObjectRef("kubernetes", "v1", "ConfigMap", "ns", f"o{rnd.randrange(40)}"), {}, spec, "t", "", 1
            )
            for _ in range(2000)
        ),
        key=incremental._order,
    )
    for _ in range(50):
        removed = rnd.sample(objects, rnd.randrange(1, 20))
        gone = {id(o) for o in removed}
        assert [id(o) for o in incremental._without(objects, removed)] == [id(o) for o in objects if id(o) not in gone]
    stranger = DesiredObject(objects[0].ref, {}, spec, "t", "", 1)
    assert len(incremental._without(objects, [stranger])) == len(objects), "not there: nothing taken out"


NEWCOMER = "apiVersion: mlcp.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: vision-detector\n"
NEWCOMER += "spec:\n  owners: [c@example.com]\n"


def test_the_trusted_bases_tenants_keep_their_registry_names_when_it_becomes_known(root: Path) -> None:
    # a stranger's folder named as vision's model: with no base known the folder takes the name and vision is set
    # aside; with the base known (the loop learns it with the live state) vision keeps it, at the same revision,
    # and the slices the base's tenants touch are validated again
    base = registry_names.Established(frozenset({"vision", "nlp"}), "b" * 40)
    (root / "tenants/vision-detector").mkdir()
    (root / "tenants/vision-detector/tenant.yaml").write_text(NEWCOMER)
    revision = _commit(root, "a team of my own")
    loader = IncrementalLoader()
    assert set(loader.load(root, revision).broken) == {"vision"}
    again = loader.load(root, revision, base)
    assert set(again.broken) == {"vision-detector"}, "applied, it would take vision's model: the newcomer waits"
    assert [d.path for d in validation.validate(load_repo(root), base)] == ["tenants/vision-detector/tenant.yaml"]
    assert "vision" in {s.tenant for s in again.desired.repo.specs}
    (root / "tenants/vision-detector/p.yaml").write_text(
        "apiVersion: mlcp.dev/v1alpha1\nkind: ModelPromotion\nmetadata:\n  name: p\n"
        "spec:\n  model: vision-detector\n  alias: production\n  version: 1\n"
    )
    squatting = loader.load(root, _commit(root, "and vision's model"), base)
    assert set(squatting.broken) == {"vision-detector"}, "the newcomer is the one set aside"
    messages = [d.message for d in squatting.broken["vision-detector"]]
    assert any("belongs to tenant 'vision' of the trusted base" in m for m in messages), messages
    (root / "tenants/vision/promotions/detector-production.yaml").unlink()  # vision lets go of the model
    released = loader.load(root, _commit(root, "vision: no promotion"), base)
    assert set(released.broken) == {"vision-detector"}, "the base's vision still owns the name: the claim waits"
    assert [d.path for d in released.broken["vision-detector"]] == ["tenants/vision-detector/p.yaml"]


def test_every_object_is_labelled_with_the_last_commit_of_its_own_file(root: Path) -> None:
    """Provenance is read only for the files the revision holds (gitsource.inspect): each of them is placed,
    by the loop's full and incremental loads and by plan's, at the commit git names for it."""
    from controlplane.labels import COMMIT_ANNOTATION
    from reconciler import engine

    loader = IncrementalLoader()
    loader.load(root, _head(root))
    tenant = root / "tenants/vision/tenant.yaml"
    tenant.write_text(tenant.read_text() + "# reviewed\n")
    head = _commit(root, "vision")
    loads = [loader.load(root, head).desired, partition.load(root).desired, engine.load_desired(root)]
    for desired in loads:
        labelled = [  # a Kubernetes object in its annotation, an MLflow record that keeps one in its own field
            (o.source, o.manifest["metadata"]["annotations"][COMMIT_ANNOTATION] if "metadata" in o.manifest else c)
            for o in desired.objects
            if "metadata" in o.manifest or (c := o.manifest.get("commit", "")) != ""
        ]
        assert {c for s, c in labelled if s == "tenants/vision/tenant.yaml"} == {head}
        assert len({s for s, _ in labelled}) > 5
        for source, commit in labelled:
            git_log = ["git", "log", "-1", "--format=%H", "--", str(source)]
            named = subprocess.run(git_log, cwd=root, check=True, capture_output=True, text=True).stdout.strip()
            assert commit == named, source
