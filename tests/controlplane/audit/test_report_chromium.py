"""The HTML report in a real browser: headless Chromium loads it offline, and the filters hide the right rows.

Chromium is a test dependency (`make chromium` installs Debian's package); this
test fails, never skips, when it is missing, so a green suite means the page
was really rendered.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from controlplane.audit import JsonlStore, Result, Verdict
from controlplane.audit.chains import MAIN, ChainRecord
from controlplane.audit.outcomes import records_for
from controlplane.audit.report import render_html
from controlplane.plans import Plan
from reconciler.backends.base import Outcome, Status
from tests.controlplane.audit.conftest import alias_change, make_record


def _labelled(store: JsonlStore) -> list[ChainRecord]:
    return [ChainRecord(MAIN, r) for r in store.records()]


class _Rows(HTMLParser):
    """Collects record rows (visible or hidden) and the `shown` counter from a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.visible: list[dict[str, str | None]] = []
        self.hidden = 0
        self.shown = ""
        self.tenants: dict[str, bool] = {}
        self._in_shown = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = dict(attrs)
        if tag == "tr" and "rec" in (data.get("class") or "").split():
            if "hidden" in data:
                self.hidden += 1
            else:
                self.visible.append(data)
        if tag == "div" and data.get("class") == "tenant":
            self.tenants[data.get("data-tenant") or ""] = "hidden" not in data
        self._in_shown = tag == "span" and data.get("id") == "shown"

    def handle_data(self, data: str) -> None:
        if self._in_shown:
            self.shown += data
            self._in_shown = False


def _dump_dom(page: Path, fragment: str, profile: Path) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make chromium` (apt-get install -y chromium)")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--dump-dom",
        f"{page.as_uri()}#{fragment}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def page(tmp_path: Path) -> Path:
    store = JsonlStore(tmp_path / "audit.jsonl")
    records = [make_record(i) for i in range(9)]
    records += [make_record(9, result=Result.denied, decision=Verdict.deny), make_record(10, result=Result.failed)]
    records.append(make_record(11))
    store.append_many(records)
    html = tmp_path / "report.html"
    html.write_text(render_html(_labelled(store), [(MAIN, store.verify())], str(store.path)), encoding="utf-8")
    return html


def test_all_rows_are_visible_without_filters(page: Path, tmp_path: Path) -> None:
    rows = _Rows()
    rows.feed(_dump_dom(page, "", tmp_path / "profile"))
    assert len(rows.visible) == 12 and rows.hidden == 0 and rows.shown == "12"


def test_filters_from_the_url_fragment_hide_other_rows(page: Path, tmp_path: Path) -> None:
    rows = _Rows()
    rows.feed(_dump_dom(page, "tenant=nlp&result=applied", tmp_path / "profile"))
    # nlp holds records 0, 3, 6, 9 (denied): three applied ones stay visible.
    assert [r["data-tenant"] for r in rows.visible] == ["nlp"] * 3
    assert {r["data-result"] for r in rows.visible} == {"applied"}
    assert rows.hidden == 9 and rows.shown == "3"
    assert rows.tenants == {"nlp": True, "vision": False, "ranking": False}


def test_an_actor_filter_matches_any_of_a_records_actors(page: Path, tmp_path: Path) -> None:
    rows = _Rows()
    rows.feed(_dump_dom(page, "actor=bob%40example.com&decision=deny", tmp_path / "profile"))
    assert len(rows.visible) == 0 and rows.shown == "0"
    rows = _Rows()
    rows.feed(_dump_dom(page, "decision=deny", tmp_path / "profile2"))
    assert [r["data-result"] for r in rows.visible] == ["denied"]


class _Moves(HTMLParser):
    """The cells of each row of the promotions table, as the browser laid it out."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr" and "move" in (dict(attrs).get("class") or "").split():
            self.rows.append([])
        elif tag == "td" and self.rows and self._cell is None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_promotions_table_lists_every_move_with_its_approvers(tmp_path: Path) -> None:
    store = JsonlStore(tmp_path / "audit.jsonl")
    steps = [("1", None, Status.applied), ("2", "1", Status.failed), ("2", "1", Status.applied)]
    for number, (version, previous, status) in enumerate(steps, 1):
        change = alias_change(version, previous)
        plan = Plan((change,), revision=f"{number:040x}")
        store.append_many(records_for(plan, [Outcome(change, status, "refused" if number == 2 else "")], actors=[]))
    store.append_many([make_record(20)])
    html = tmp_path / "report.html"
    html.write_text(render_html(_labelled(store), [(MAIN, store.verify())], str(store.path)), encoding="utf-8")
    moves = _Moves()
    moves.feed(_dump_dom(html, "", tmp_path / "profile"))
    bob = "bob@example.com (claimed)"  # no signature required: the approval commit's author field
    assert [(r[2], r[3], r[6], r[8]) for r in moves.rows] == [
        ("vision-detector@production", "∅ → 1", bob, "applied"),
        ("vision-detector@production", "1 → 2", bob, "failed: refused"),
        ("vision-detector@production", "1 → 2", bob, "applied"),
    ]
    assert moves.rows[0][5] == "alice@example.com (claimed)" and moves.rows[0][4] == f"{1:040x}"[:12]
    assert moves.rows[0][7].startswith("✓ auc >= 0.9 (measured 0.93)")
