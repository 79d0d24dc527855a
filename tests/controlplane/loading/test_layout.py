"""Spec text that reads one way to a reviewer and another to mlcp is refused, at the line an editor shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.loading import layout, yamldocs
from controlplane.loading.repo import load_repo
from tests.controlplane.helpers import QUOTA, problems, write

HIDDEN_BREAKS = ["\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("hidden", HIDDEN_BREAKS, ids=["NEL", "LS", "PS"])
def test_a_line_break_viewers_do_not_show_is_refused_where_it_is(repo: Path, hidden: str) -> None:
    """Bob asks for the GPUs in what `git diff` shows as a comment: YAML breaks the line there and reads the rest
    as an entry of the quota, which the reviewer (or an approver, whose approval binds to the file) never saw."""
    quota = QUOTA.format(name="compute").replace(
        '    requests.cpu: "1"\n',
        f'    requests.cpu: "1"  # GPUs next quarter{hidden}    requests.nvidia.com/gpu: "8"\n',
    )
    assert yamldocs.parse(quota)[0].data["spec"]["hard"]["requests.nvidia.com/gpu"] == "8", "what mlcp read before"
    write(repo, "tenants/nlp/quota.yaml", quota)
    [found] = problems(repo)
    line = quota.split("\n").index(next(t for t in quota.split("\n") if hidden in t)) + 1
    assert (found.path, found.line, found.code) == ("tenants/nlp/quota.yaml", line, "yaml")
    assert found.column == quota.split("\n")[line - 1].index(hidden) + 1
    assert f"U+{ord(hidden):04X}" in found.message and "the file is not read" in found.message
    assert not [s for s in load_repo(repo).specs if str(s.key) == "Quota/nlp/compute"]


def test_a_bidirectional_override_in_a_comment_is_refused(repo: Path) -> None:
    """Trojan Source: an override in a comment reorders how the rest of the line is shown."""
    write(repo, "tenants/nlp/notes.yaml", "# fine \u202e }\u2066// x\u2069 \u2066\n" + QUOTA.format(name="other"))
    [found] = problems(repo)
    assert (found.path, found.line, found.column) == ("tenants/nlp/notes.yaml", 1, 8)
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in found.message and "3 more in the file" in found.message


def test_mlcp_yaml_is_held_to_the_same_rule(repo: Path) -> None:
    text = (repo / "mlcp.yaml").read_text(encoding="utf-8") + "# prune later\u2028prune: {enabled: true}\n"
    (repo / "mlcp.yaml").write_text(text, encoding="utf-8")
    [found] = problems(repo)
    assert found.path == "mlcp.yaml" and "U+2028" in found.message


def test_text_without_them_passes_marks_and_other_scripts_included() -> None:
    assert layout.problem("description: 'שלום \u200f עולם — café 🙂'\n", "x.yaml") is None
