"""Budgets against hostile input: what each scope's limit refuses, where it is reported, who sets it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlplane.errors import InvalidConfig
from controlplane.loading import budgets
from controlplane.loading.budgets import REPO_WIDE, Budget, LimitError, Limits
from controlplane.loading.repo import load_folder, load_repo
from controlplane.loading.yamldocs import parse_counted
from reconciler import partition
from tests import peak
from tests.controlplane.helpers import PROJECT, QUOTA, problems, write

BOMB_DOCUMENT = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "---\n"
)
"""About 9,000 nodes once expanded, in 170 bytes: each document alone is harmless, 60 of them in 10 KB are not."""


def bomb(size: int = 10_000) -> str:
    return BOMB_DOCUMENT * (size // len(BOMB_DOCUMENT))


def load(repo: Path, **limits: int) -> list[tuple[str, int, str]]:
    loaded = load_repo(repo, budget=Budget(Limits(**limits)))
    return [(d.path, d.line, d.message) for d in loaded.diagnostics]


def test_operator_settings_come_from_the_environment_and_flags_win() -> None:
    env = {"MLCP_MAX_TENANT_NODES": "5000", "MLCP_MAX_DEPTH": "32", "PATH": "/bin"}
    limits = budgets.from_settings(["tenant-nodes=7_000", "repo-files=9"], env)
    assert (limits.tenant_nodes, limits.depth, limits.repo_files) == (7000, 32, 9)
    assert limits.file_nodes == Limits().file_nodes


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["tenant-nodes"], {}, "expected NAME=N"),
        (["nodes=5"], {}, "expected NAME=N with NAME one of depth, file-bytes"),
        (["depth=0"], {}, "--limit depth: '0' is not a positive whole number"),
        (["depth=-3"], {}, "is not a positive whole number"),
        (["depth=²"], {}, "'²' is not a positive whole number"),  # str.isdigit takes it, int() does not
        (["depth=١٢"], {}, "'١٢' is not a positive whole number"),  # and int() reads this as 12
        (["depth=" + "9" * 5000], {}, "is not a positive whole number"),
        ([], {"MLCP_MAX_FILE_BYTES": "1MiB"}, "$MLCP_MAX_FILE_BYTES: '1MiB' is not a positive whole number"),
        ([], {"MLCP_MAX_TENANT_NODE": "5"}, "unknown limit variable $MLCP_MAX_TENANT_NODE"),
    ],
)
def test_bad_settings_are_refused_by_name(flags: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(LimitError, match=r".*") as caught:
        budgets.from_settings(flags, env)
    assert message in str(caught.value)


def test_a_file_over_its_node_budget_is_refused_and_the_rest_of_the_tenant_is_read(repo: Path) -> None:
    write(repo, "tenants/nlp/a-bomb.yaml", bomb())
    found = load(repo, file_nodes=50_000)
    assert len(found) == 1
    path, line, message = found[0]
    assert path == "tenants/nlp/a-bomb.yaml"
    assert message == "this file holds more than 50000 YAML nodes once aliases are expanded (limit file-nodes)"
    per_document = parse_counted(BOMB_DOCUMENT).nodes
    assert line == 5 * (50_000 // per_document) + 4  # the `d:` line of the document that crosses the budget
    assert any(s.key.name == "compute" and s.tenant == "nlp" for s in load_repo(repo).specs)


def test_small_files_add_up_to_the_tenant_budget_and_the_tenant_stops_there(repo: Path) -> None:
    for index in range(6):
        write(repo, f"tenants/nlp/z{index}.yaml", bomb(2_000))  # ~100,000 nodes each, under the file budget
    loaded = load_repo(repo, budget=Budget(Limits(file_nodes=200_000, tenant_nodes=250_000)))
    (found,) = [d for d in loaded.diagnostics if d.code == "budget"]  # the others: each document is no spec
    assert found.path == "tenants/nlp/z2.yaml"
    assert found.message == (
        "tenants/nlp/ holds more than 250000 YAML nodes once aliases are expanded (limit tenant-nodes)"
    )
    assert "--limit tenant-nodes=N or $MLCP_MAX_TENANT_NODES" in found.hint
    assert {s.tenant for s in loaded.specs} == {None, "vision"}, "what was read of nlp is set aside with it"
    assert any(k.tenant == "nlp" for k in loaded.refused)


@pytest.mark.parametrize(
    ("measure", "what"), [("files", "spec files"), ("bytes", "bytes"), ("documents", "YAML documents")]
)
def test_each_tenant_measure_sets_that_tenant_aside(repo: Path, measure: str, what: str) -> None:
    limit = max(getattr(load_folder(repo, f"tenants/{t}").usage, measure) for t in ("nlp", "vision"))
    for index in range(60):  # nlp grows past what the roomiest template tenant holds
        write(repo, f"tenants/nlp/extra/q{index:02d}.yaml", QUOTA.format(name=f"q{index}"))
    limits = {f"tenant_{measure}": limit}
    found = load(repo, **limits)
    expected = f"tenants/nlp/ holds more than {limit} {what} (limit tenant-{measure})"
    assert [(p.split("/")[1], m) for p, _, m in found] == [("nlp", expected)]
    broken = partition.isolate(load_repo(repo, budget=Budget(Limits(**limits))))[1]
    assert set(broken) == {"nlp"}


def test_a_file_with_too_many_documents_is_refused_at_the_first_one_over(repo: Path) -> None:
    write(repo, "tenants/vision/many.yaml", "---\n".join(QUOTA.format(name=f"q{i}") for i in range(5)))
    assert load(repo, file_documents=3) == [
        ("tenants/vision/many.yaml", 24, "this file holds more than 3 YAML documents (limit file-documents)")
    ]


def test_the_repo_budget_stops_the_whole_load_with_a_repo_wide_error(repo: Path) -> None:
    loaded = load_repo(repo, budget=Budget(Limits(repo_files=4)))
    (found,) = loaded.diagnostics
    assert (found.path, found.code) == (REPO_WIDE, "budget")
    assert found.message.startswith("the repo holds more than 4 spec files (limit repo-files); reading stopped at ")
    with pytest.raises(InvalidConfig):
        partition.isolate(loaded)  # never a partial desired state: unread tenants would look deleted


def test_shared_files_count_for_the_repo_only(repo: Path) -> None:
    write(repo, "policies/extra.yaml", bomb(1_500))  # ~90,000 nodes outside any tenant folder
    found = load(repo, tenant_nodes=1_000)
    assert {(p, m) for p, _, m in found} == {("policies/extra.yaml", "unknown apiVersion None")}
    assert load(repo, repo_nodes=50_000)[0][0] == REPO_WIDE


def test_a_tenant_read_again_counts_against_what_the_rest_of_the_repo_holds(repo: Path) -> None:
    whole = load_repo(repo)
    others = budgets.Usage(files=whole.usage.files - 1)
    limits = Limits(repo_files=whole.usage.files)
    again = load_folder(repo, "tenants/nlp", Budget(limits, others))
    assert [d.path for d in again.diagnostics] == [REPO_WIDE]
    assert load_folder(repo, "tenants/nlp", Budget(limits, budgets.Usage())).diagnostics == []


def test_the_defaults_take_ten_thousand_benchmark_tenants_with_room_to_spare(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_validate", PROJECT / "benchmarks" / "validate.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate(tmp_path, 41)  # the policy and two complete tenants of 20 files
    whole = load_repo(tmp_path)
    assert whole.diagnostics == [] and len(whole.specs) == 41
    tenant = load_folder(tmp_path, "tenants/team-0000").usage
    defaults = Limits()
    for measure in ("files", "bytes", "documents", "nodes"):
        one = getattr(tenant, measure)
        assert one * 50 <= defaults.of(budgets.Scope.tenant, measure), f"a tenant's {measure}: {one}"
        assert one * 10_000 * 2 <= defaults.of(budgets.Scope.repo, measure), f"10,000 tenants' {measure}"


def test_validate_reports_a_ten_kilobyte_alias_bomb_quickly_in_bounded_memory(repo: Path) -> None:
    path = write(repo, "tenants/nlp/bomb.yaml", bomb())
    assert 9_000 < path.stat().st_size <= 10_000
    began = time.monotonic()
    errors = repo.parent / "validate.err"
    with errors.open("w") as err:
        code, peak_mb = peak.run(
            [sys.executable, "-m", "controlplane", "validate", str(repo)], stdout=subprocess.DEVNULL, stderr=err
        )
    elapsed = time.monotonic() - began
    stderr = errors.read_text()
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert "tenants/nlp/bomb.yaml:" in stderr and "YAML nodes once aliases are expanded" in stderr
    assert elapsed < 20, f"{elapsed:.1f}s"
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"


def test_the_repo_cannot_raise_its_own_limits(repo: Path) -> None:
    text = (repo / "mlcp.yaml").read_text()
    (repo / "mlcp.yaml").write_text(text + "limits:\n  tenantNodes: 100000000\n")
    write(repo, "tenants/nlp/bomb.yaml", bomb())
    found = {d.path for d in problems(repo)}
    assert "tenants/nlp/bomb.yaml" in found
    assert "mlcp.yaml" in found  # an unknown field, not a setting
