"""The trusted base: its rules come from git, never from the work tree; a base derived from an earlier one is
a full load of it (which commit names the base: test_baserevision)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from controlplane.plans import Action, Change, Decision, ObjectRef, Plan, SpecKey
from reconciler import gitsource, governance, governance_backend, nextbase, trust
from tests.reconciler.baserepo import commit_note as _commit
from tests.reconciler.baserepo import repo
from tests.reconciler.baserepo import run_git as _git

__all__ = ["repo"]  # the fixture


def test_the_rules_are_read_from_git_not_from_the_work_tree(repo: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text().replace("      - admin@example.com", "      - mallory@example.com"))
    base = trust.load(repo, sha, "operator")
    assert base.policy is not None
    assert base.policy.spec.groups["platform-team"] == ["admin@example.com"]
    assert set(base.tenants) == {"vision", "nlp"}
    assert "policies/allowed_signers" in base.files and base.signers is not None


def test_a_signers_file_outside_the_repo_is_no_key_the_base_vouches_for(repo: Path) -> None:
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text().replace("policies/allowed_signers", "../../etc/ssh/keys"))
    _git(repo, "commit", "-qam", "signers elsewhere")
    base = trust.load(repo, "HEAD", "operator")
    assert base.signers is None


def _rule_change(blocked: str | None) -> Change:
    ref = ObjectRef(governance.SYSTEM, governance.API_VERSION, governance.POLICY, None, "platform")
    decision = Decision(blocked is None, "r", "why")
    spec = SpecKey("AccessPolicy", None, "platform")
    return Change(ref, Action.update, "differs", spec, None, "policies/access.yaml", 0,
                  blocked=blocked, decision=decision)  # fmt: skip


def test_a_denied_change_to_the_rules_never_becomes_the_next_judge() -> None:
    assert nextbase.next_base(Plan((_rule_change(None),), revision="head"), "base") == "head"
    assert nextbase.next_base(Plan((_rule_change("denied"),), revision="head"), "base") == "base"


def test_rule_diffs_see_removed_keys_that_a_managed_diff_would_not() -> None:
    before = {"groups": {"platform-team": ["admin@x"], "approvers": ["lead@x"]}}
    after = {"groups": {"platform-team": ["admin@x"]}}
    [removed] = governance.full_diff(before, after)
    assert removed.path == ("groups", "approvers") and removed.new is None


def _governance(base: trust.TrustedBase) -> tuple[object, ...]:
    """What judges: the specs by source, the policy files, the config and the problems."""
    specs = sorted((s.source.path, s.spec.model_dump_json()) for s in base.repo.specs)
    problems = sorted(d.render() for d in base.problems)
    return (specs, base.files, base.repo.config, problems, base.repo.files)


def test_a_base_reuses_the_previous_one_reading_only_the_tenant_files_that_changed(repo: Path) -> None:
    first = trust.load(repo, "HEAD", "applied")
    tenant = repo / "tenants/vision/tenant.yaml"
    tenant.write_text(tenant.read_text().replace("role: edit", "role: view"))
    (repo / "tenants/nlp/tenant.yaml").unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "vision's people, nlp gone")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert second.shared is first.shared, "mlcp.yaml and policies/ did not change: reused, not read again"
    assert second.parts is not None and first.parts is not None and "nlp" not in second.parts
    assert second.tenants["vision"].spec.members[0].role == "view"
    assert _governance(second) == _governance(trust.load(repo, "HEAD", "applied")), "the same as a full load"


def test_a_change_outside_the_tenant_files_reads_the_whole_base_again(repo: Path) -> None:
    first = trust.load(repo, "HEAD", "applied")
    policy = repo / "policies/access.yaml"
    policy.write_text(policy.read_text() + "\n")
    _git(repo, "commit", "-qam", "a policy change")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert second.shared is not first.shared
    assert _governance(second) == _governance(trust.load(repo, "HEAD", "applied"))


def test_an_unchanged_tenant_file_with_problems_keeps_them_in_a_reused_base(repo: Path) -> None:
    tenant = repo / "tenants/nlp/tenant.yaml"
    tenant.write_text(tenant.read_text().replace("kind: Tenant", "kind: Tenant\nbogus: 1"))
    _git(repo, "commit", "-qam", "nlp broken")
    first = trust.load(repo, "HEAD", "applied")
    assert any("nlp" in d.path for d in first.problems)
    vision = repo / "tenants/vision/tenant.yaml"
    vision.write_text(vision.read_text().replace("role: edit", "role: view"))
    _git(repo, "commit", "-qam", "vision's people")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert _governance(second) == _governance(trust.load(repo, "HEAD", "applied"))


def _from_files(
    repo: Path, base: trust.TrustedBase, folder: Path
) -> tuple[list[tuple[str, str]], object, int, list[str]]:
    """The base as the folder loader reads it: its readable governance files written out, then loaded."""
    from controlplane.loading import budgets
    from controlplane.loading.repo import load_folder, load_repo

    for path, entry in base.listing.items():
        if entry.readable:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(subprocess.run(["git", "-C", str(repo), "cat-file", "blob", entry.blob],
                                                       capture_output=True, check=True).stdout)  # fmt: skip
    tenants = sorted({p.split("/")[1] for p, e in base.listing.items() if e.readable and p.startswith("tenants/")})
    budget = budgets.Budget(budgets.active())
    shared = load_repo(folder, skip=frozenset(f"tenants/{t}" for t in tenants), budget=budget)
    parts = [load_folder(folder, f"tenants/{t}", budget) for t in tenants]
    specs = sorted((s.source.path, s.spec.model_dump_json()) for p in (shared, *parts) for s in p.specs)
    problems = sorted(d.render() for p in (shared, *parts) for d in p.diagnostics)
    return specs, shared.config, sum(p.files for p in (shared, *parts)), problems


def test_the_base_loads_from_git_objects_in_memory_as_from_its_files(repo: Path, tmp_path: Path) -> None:
    (repo / "policies/extra.yaml").write_bytes("kind: caf\xe9\n".encode("latin-1"))
    (repo / "policies/crlf.yaml").write_bytes(b"apiVersion: mlcp.dev/v1alpha1\r\nkind: Quota\r\n")
    (repo / "policies/huge.yaml").write_text("# " + "x" * (1 << 20) + "\n")
    (repo / "policies/linked.yaml").symlink_to("access.yaml")
    tenant = repo / "tenants/nlp/tenant.yaml"
    tenant.write_text(tenant.read_text().replace("name: nlp", "name: vision"))
    (repo / "tenants/wrong").mkdir()
    (repo / "tenants/wrong/tenant.yaml").write_text("kind: [\n")
    _git(repo, "add", "-A")
    _git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},tenants/sub/tenant.yaml")
    _git(repo, "commit", "-q", "-m", "every refusal")
    base = trust.load(repo, "HEAD", "operator")
    written = tmp_path / "written"
    written.mkdir()
    specs, config, files, problems = _from_files(repo, base, written)
    listing_problems = [d.render() for d in base.problems if d.message.endswith("; ignored")]
    assert len(listing_problems) == 3, "a link, a submodule and a file over the size limit are never read"
    assert sorted((s.source.path, s.spec.model_dump_json()) for s in base.repo.specs) == specs
    assert (base.repo.config, base.repo.files) == (config, files)
    assert sorted(d.render() for d in base.problems) == sorted([*problems, *listing_problems])
    assert any("policies/extra.yaml" in p and "UTF-8" in p for p in problems)
    assert any("tenants/wrong/tenant.yaml" in p for p in problems) and any("tenants/nlp" in p for p in problems)


def _crafted_commit(repo: Path) -> str:
    """A commit whose policies/ tree names `..` twice: `git ls-tree -r` lists policies/../../evil.yaml."""

    def mktree(entries: str) -> str:
        done = subprocess.run(["git", "mktree"], cwd=repo, input=entries, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="kind: Evil\n",
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    inner = mktree(f"100644 blob {blob}\tevil.yaml\n")
    up = mktree(f"040000 tree {inner}\t..\n")
    head = _git(repo, "rev-parse", "HEAD^{tree}")
    entries = [line for line in _git(repo, "ls-tree", head).splitlines() if not line.endswith("\tpolicies")]
    policies = _git(repo, "rev-parse", "HEAD:policies")
    listed = _git(repo, "ls-tree", policies).splitlines()
    crafted = mktree("\n".join([*listed, f"040000 tree {up}\t.."]) + "\n")
    root = mktree("\n".join([*entries, f"040000 tree {crafted}\tpolicies"]) + "\n")
    return _git(repo, "commit-tree", "-m", "crafted", "-p", "HEAD", root)


def test_a_crafted_tree_naming_dot_dot_is_refused_and_writes_nothing(repo: Path) -> None:
    sha = _crafted_commit(repo)
    assert "policies/../../evil.yaml" in _git(repo, "ls-tree", "-r", "--name-only", sha)
    base = trust.load(repo, sha, "operator")
    refused = [d for d in base.problems if d.path == "policies/../../evil.yaml"]
    assert refused and "not a valid path" in refused[0].message
    assert "policies/../../evil.yaml" not in base.files and base.policy is not None
    assert base.signers is not None and base.signers.read_bytes() == base.files["policies/allowed_signers"]
    private = base.signers.parent  # where the base's files were once written (policies/../../ of one of them)
    assert [p.name for p in private.iterdir() if not p.name.startswith("signers-")] == [], (
        "nothing of the base is written but its allowed_signers"
    )


def _role(root: Path, tenant: str, role: str) -> None:
    path = root / f"tenants/{tenant}/tenant.yaml"
    path.write_text(path.read_text().replace("role: edit", f"role: {role}"))


def _add_tenant(root: Path) -> None:
    shutil.copytree(root / "tenants/nlp", root / "tenants/speech")
    path = root / "tenants/speech/tenant.yaml"
    path.write_text(path.read_text().replace("name: nlp", "name: speech"))


def _rename_tenant(root: Path) -> None:
    (root / "tenants/nlp").rename(root / "tenants/language")
    path = root / "tenants/language/tenant.yaml"
    path.write_text(path.read_text().replace("name: nlp", "name: language"))


def _link_tenant_file(root: Path) -> None:
    (root / "tenants/nlp/tenant.yaml").unlink()
    (root / "tenants/nlp/tenant.yaml").symlink_to("../vision/tenant.yaml")


def _link_tenant_folder(root: Path) -> None:
    shutil.rmtree(root / "tenants/nlp")
    (root / "tenants/nlp").symlink_to("vision")


def _tenant_file_as_folder(root: Path) -> None:
    (root / "tenants/nlp/tenant.yaml").unlink()
    (root / "tenants/nlp/tenant.yaml").mkdir()
    (root / "tenants/nlp/tenant.yaml/inner.yaml").write_text("kind: Tenant\n")


def _huge_tenant_file(root: Path) -> None:
    path = root / "tenants/nlp/tenant.yaml"
    path.write_text(path.read_text() + "# " + "x" * (1 << 20) + "\n")


def _executable_tenant_file(root: Path) -> None:
    (root / "tenants/nlp/tenant.yaml").chmod(0o755)


def _policy_change(root: Path) -> None:
    path = root / "policies/access.yaml"
    path.write_text(path.read_text().replace("      - admin@example.com", "      - mallory@example.com"))
    _role(root, "vision", "view")


def _config_change(root: Path) -> None:
    (root / "mlcp.yaml").write_text((root / "mlcp.yaml").read_text() + "\n# touched\n")


def _only_other_specs(root: Path) -> None:
    (root / "tenants/vision/notes.yaml").write_text("# not governance\n")


CHANGES = {
    "a member's role": (lambda root: _role(root, "vision", "view"), {"vision"}),
    "two tenants' people": (
        lambda root: (_role(root, "vision", "view"), _role(root, "nlp", "view")),
        {"vision", "nlp"},
    ),
    "a tenant added": (_add_tenant, {"speech"}),
    "a tenant removed": (lambda root: shutil.rmtree(root / "tenants/nlp"), {"nlp"}),
    "a tenant folder renamed": (_rename_tenant, {"nlp", "language"}),
    "a tenant.yaml made a link": (_link_tenant_file, None),
    "a tenant folder made a link": (_link_tenant_folder, {"nlp"}),
    "a tenant.yaml made a folder": (_tenant_file_as_folder, {"nlp"}),
    "a tenant.yaml over the size limit": (_huge_tenant_file, None),
    "a tenant.yaml made executable": (_executable_tenant_file, set()),
    "the policy changed": (_policy_change, None),
    "mlcp.yaml changed": (_config_change, None),
    "no governance file changed": (_only_other_specs, set()),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_base_derived_from_the_previous_one_is_exactly_a_full_load(repo: Path, name: str) -> None:
    """The next base, from git's diff of the two revisions, must be what a full load gives: it decides who may
    change what. Anything but tenant.yaml files changing as regular files falls back to a full load."""
    change, tenants = CHANGES[name]
    first = trust.load(repo, "HEAD", "applied")
    keeper = governance_backend.GovernanceBackend.of(first)
    keeper.read().inventory.recorded_for(["vision"])  # its index by tenant built
    assert first.tenants, "its people by tenant built: the next base derives its own from them"
    change(repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", name)
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert (second.derived_tenants is not None) == (tenants is not None), "derived exactly when the base was"
    full = trust.load(repo, "HEAD", "applied")
    assert _governance(second) == _governance(full)
    assert dict(second.listing) == dict(full.listing), "the listing the next base derives from is the revision's"
    assert (second.policy, second.tenants, second.files) == (full.policy, full.tenants, full.files)
    assert second.repo.usage == full.repo.usage, "what the base holds (its limits' measure), derived or summed"
    if tenants is None:
        assert second.since is None, "an unusual change reads the whole base again"
    else:
        assert second.since == (first.revision, frozenset(tenants)) and second.shared is first.shared
        assert trust.changed_tenants(first, second) == tenants
    assert trust.changed_tenants(first, full) == trust.changed_tenants(first, second)
    derived, rendered = governance_backend.GovernanceBackend.of(second), governance_backend.GovernanceBackend(full)
    from_first = governance_backend.GovernanceBackend._derived(governance_backend.GovernanceBackend.of(first), second)
    assert (from_first is not None) == (tenants is not None), "derived exactly when the base was"
    assert derived.objects == rendered.objects, "the base's governance objects, derived or rendered, are the same"
    assert derived.read().objects == rendered.read().objects
    assert derived.read().inventory.records == rendered.read().inventory.records
    assert derived.read().inventory.refs == rendered.read().inventory.refs
    for tenant in ("vision", "nlp", "speech", "language"):
        assert derived.read().inventory.recorded_for([tenant]) == rendered.read().inventory.recorded_for([tenant])


def test_a_base_derived_from_a_crafted_tree_is_a_full_load_of_it(repo: Path) -> None:
    first = trust.load(repo, "HEAD", "applied")
    sha = _crafted_commit(repo)
    second = trust.load(repo, sha, "applied", previous=first)
    full = trust.load(repo, sha, "applied")
    assert second.since is None, "a path that is no clean file is never derived"
    assert _governance(second) == _governance(full) and dict(second.listing) == dict(full.listing)
    assert any(d.path == "policies/../../evil.yaml" for d in second.problems)


def test_a_base_derived_under_other_limits_lists_the_whole_revision(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane.loading import budgets

    first = trust.load(repo, "HEAD", "applied")
    _role(repo, "vision", "view")
    _git(repo, "commit", "-qam", "vision's people")
    monkeypatch.setattr(budgets, "_active", budgets.Limits(file_bytes=10))
    second = trust.load(repo, "HEAD", "applied", previous=first)
    full = trust.load(repo, "HEAD", "applied")
    assert second.since is None and _governance(second) == _governance(full)
    assert dict(second.listing) == dict(full.listing) and not any(e.readable for e in second.listing.values())


def test_a_tree_listing_one_path_twice_is_read_as_git_checks_it_out(repo: Path) -> None:
    """`git mktree` writes a tree naming `access.yaml` twice (fsck: duplicateEntries); git checks out the last.
    The trusted base must read the same blob the revision under review was judged by when it was checked out,
    or a policy applied as one text would judge the next change as another."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="# the second entry\n",
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    listed = _git(repo, "ls-tree", "HEAD:policies").splitlines()
    twice = [*listed, f"100644 blob {blob}\taccess.yaml"]
    policies = subprocess.run(["git", "mktree"], cwd=repo, input="\n".join(twice) + "\n", capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    entries = [line for line in _git(repo, "ls-tree", "HEAD^{tree}").splitlines() if not line.endswith("\tpolicies")]
    root = subprocess.run(["git", "mktree"], cwd=repo, input="\n".join([*entries, f"040000 tree {policies}\tpolicies"])
                          + "\n", capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    sha = _git(repo, "commit-tree", "-m", "twice", "-p", "HEAD", root)
    assert _git(repo, "ls-tree", "-r", "--name-only", sha).splitlines().count("policies/access.yaml") == 2
    with gitsource.checkout(repo, sha) as tree:
        checked_out = (tree / "policies/access.yaml").read_bytes()
    assert checked_out == b"# the second entry\n"
    assert trust.load(repo, sha, "operator").files["policies/access.yaml"] == checked_out


def test_a_base_derives_its_people_even_when_the_previous_base_had_not_built_them(repo: Path) -> None:
    """A previous base whose people by tenant nobody had asked for yet: the next base still derives its own
    (building the previous one's once), and they are what a full load gives."""
    first = trust.load(repo, "HEAD", "applied")
    _role(repo, "vision", "view")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a member's role")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert second.derived_tenants is not None, "derived from the previous base's people"
    assert second.tenants == trust.load(repo, "HEAD", "applied").tenants


def _replace(root: Path, path: str, text: str) -> None:
    """A replace ref for the blob at HEAD:`path` (anyone who can push a ref can push one; a mirror clone fetches it)."""
    real = _git(root, "rev-parse", f"HEAD:{path}")
    done = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=root, input=text, capture_output=True, text=True, check=True
    )
    _git(root, "replace", real, done.stdout.strip())
    assert _git(root, "cat-file", "-p", real) == text.strip(), "git reads the forgery in place of the real blob"


def test_a_replace_ref_cannot_swap_the_trusted_bases_policy(repo: Path) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    text = (repo / "policies/access.yaml").read_text(encoding="utf-8")
    forged = text.replace("      groups: [platform-team]", '      users: ["*"]', 1)
    assert forged != text
    _replace(repo, "policies/access.yaml", forged)
    loaded = trust.load(repo, base, "operator")
    assert loaded.policy is not None
    admin = next(b for b in loaded.policy.spec.bindings if b.role == "platform-admin")
    assert "*" not in admin.users, "the base's policy is the committed blob, not the replacement"


def test_a_base_file_whose_name_is_not_utf8_is_ignored_and_shown_escaped(repo: Path) -> None:
    """Every file under the base's policies/ is a governance object named by its path: one whose name git stores
    in bytes that are not UTF-8 named an object no JSON encoder writes (the plan's output, the audit log)."""
    (repo / "policies" / os.fsdecode(b"k\xffeys")).write_text("x\n")
    sha = _commit(repo, "a key file")
    base = trust.load(repo, sha, "operator")
    [refused] = [d for d in base.problems if "not named in UTF-8" in d.message]
    assert refused.path == "policies/k\\xffeys" and refused.render().encode()
    assert sorted(base.files) == ["policies/access.yaml", "policies/allowed_signers"]


def test_the_bases_established_tenants_are_its_tenant_files_and_a_new_folder_is_not_one(repo: Path) -> None:
    first = trust.load(repo, "HEAD", "applied")
    assert first.established.tenants == {"vision", "nlp"} and first.established.revision == first.revision
    (repo / "tenants/vision-detector").mkdir()
    (repo / "tenants/vision-detector/README.md").write_text("no tenant.yaml: never a tenant of a base\n")
    (repo / "tenants/nlp/tenant.yaml").write_text("kind: [unreadable\n")  # refused, still nlp's folder
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "a folder, a broken tenant.yaml")
    second = trust.load(repo, "HEAD", "applied", previous=first)
    assert second.established.tenants == {"vision", "nlp"}
    assert second.established == first.established, "equal tenants: the loop validates nothing again"
    assert second.established.revision != first.established.revision
