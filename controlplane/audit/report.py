"""A self-contained HTML audit report: one file an auditor can open anywhere, offline.

Everything (styles, the filter script) is inline and every row is rendered on
the server side, so the page shows the full log without JavaScript and cannot
leak a request to anything outside the file. The script only hides rows that do
not match the filters, and keeps them in the URL fragment (`#tenant=nlp&result=
failed`) so a filtered view can be bookmarked or sent to someone.

With a sharded controller the records come from several chains
(controlplane.audit.chains): the page says whether each chain is intact, names
each record by its id (`shard-3:42`), and offers the chain as one more filter.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from html import escape

from controlplane.audit.chains import ChainRecord, label
from controlplane.audit.history import Move, moves_in
from controlplane.audit.records import AuditRecord
from controlplane.audit.verify import Verification

_TIMELINE_DAYS = 90
_FILTERS = ("tenant", "kind", "actor", "decision", "result")
_GROUPS = {"applied": "ok", "deleted": "ok", "failed": "bad", "denied": "bad"}

_CSS = """
[hidden]{display:none!important}
body{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f6f8fa}code{font-size:12px}
.ok{color:#1a7f37}.bad{color:#cf222e}.filters label{margin-right:12px}
.r-failed,.r-denied{background:#ffebe9}.r-skipped{background:#fff8c5}
.timeline{display:flex;align-items:flex-end;gap:2px;height:120px;border-bottom:1px solid #d0d7de}
.day{flex:1;display:flex;flex-direction:column-reverse;min-width:4px}
.seg-ok{background:#2da44e}.seg-bad{background:#cf222e}.seg-other{background:#bf8700}
.tenant{display:inline-block;vertical-align:top;margin:0 24px 16px 0}
"""

_JS = """
(function(){
  var keys=__KEYS__, sel={};
  keys.forEach(function(k){sel[k]=document.getElementById('f-'+k);});
  function fromHash(){
    var q=new URLSearchParams(location.hash.slice(1));
    keys.forEach(function(k){if(q.has(k))sel[k].value=q.get(k);});
  }
  function apply(){
    var shown=0, q=new URLSearchParams();
    keys.forEach(function(k){if(sel[k].value)q.set(k,sel[k].value);});
    document.querySelectorAll('tr.rec').forEach(function(tr){
      var ok=keys.every(function(k){
        var v=sel[k].value; if(!v)return true;
        return (tr.dataset[k]||'').split(' ').indexOf(v)>=0;
      });
      tr.hidden=!ok; if(ok)shown++;
    });
    document.querySelectorAll('div.tenant').forEach(function(d){
      d.hidden=!!sel.tenant.value && d.dataset.tenant!==sel.tenant.value;
    });
    document.getElementById('shown').textContent=shown;
    history.replaceState(null,'',q.toString()?'#'+q.toString():location.pathname);
  }
  keys.forEach(function(k){sel[k].addEventListener('change',apply);});
  fromHash(); apply();
})();
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _target(record: AuditRecord) -> str:
    t = record.target
    scope = f"{t['namespace']}/" if t.get("namespace") else ""
    return f"{t.get('kind', '')}/{scope}{t.get('name', '')}"


def _select(name: str, values: Iterable[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in sorted(set(values)))
    return f'<label>{name} <select id="f-{name}"><option value="">all</option>{options}</select></label>'


def _filters(labelled: Sequence[ChainRecord], keys: Sequence[str]) -> str:
    records = [c.record for c in labelled]
    values: dict[str, list[str]] = {
        "tenant": [r.tenant for r in records if r.tenant],
        "kind": [r.kind for r in records],
        "actor": [a for r in records for a in r.actors],
        "decision": [r.decision.value for r in records],
        "result": [r.result.value for r in records],
        "chain": [label(c.chain) for c in labelled],
    }
    return '<p class="filters">' + "".join(_select(k, values[k]) for k in keys) + "</p>"


def _timeline(records: Sequence[AuditRecord]) -> str:
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        group = _GROUPS.get(r.result.value, "other")
        per_day[r.time[:10]][group] += 1
    days = sorted(per_day)[-_TIMELINE_DAYS:]
    peak = max((sum(per_day[d].values()) for d in days), default=1)
    bars = []
    for day in days:
        counts = per_day[day]
        segs = "".join(
            f'<div class="seg-{g}" style="height:{100 * counts[g] / peak:.1f}px"></div>' for g in ("ok", "bad", "other")
        )
        title = f"{day}: {counts['ok']} applied, {counts['bad']} failed/denied, {counts['other']} other"
        bars.append(f'<div class="day" title="{_e(title)}">{segs}</div>')
    span = f"{days[0]} … {days[-1]}" if days else "no records"
    return f'<h2>Timeline <small>({_e(span)})</small></h2><div class="timeline">{"".join(bars)}</div>'


def _per_tenant(records: Sequence[AuditRecord]) -> str:
    """Who changed what, per tenant: actor, number of changes, kinds touched, last change."""
    table: dict[str, dict[str, list[AuditRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        for actor in r.attributed():  # a claimed name and the same one verified are not one person's changes
            table[r.tenant or "(cluster)"][actor].append(r)
    parts = ["<h2>Who changed what, per tenant</h2>"]
    for tenant in sorted(table):
        rows = "".join(
            f"<tr><td>{_e(actor)}</td><td>{len(rs)}</td><td>{_e(', '.join(sorted({r.kind for r in rs})))}</td>"
            f"<td>{_e(max(r.time for r in rs)[:19].replace('T', ' '))}</td></tr>"
            for actor, rs in sorted(table[tenant].items())
        )
        parts.append(
            f'<div class="tenant" data-tenant="{_e(tenant)}"><h3>{_e(tenant)}</h3><table>'
            f"<tr><th>actor</th><th>changes</th><th>kinds</th><th>last</th></tr>{rows}</table></div>"
        )
    return "".join(parts)


def _gates(move: Move) -> str:
    return "; ".join(
        f"{'✓' if g.get('passed') else '✗'} {g.get('metric')} {g.get('comparison')} {g.get('threshold')} "
        f"(measured {'not logged' if g.get('measured') is None else g.get('measured')})"
        for g in move.gates
    )


def _promotions(labelled: Sequence[ChainRecord]) -> str:
    """Every alias move: which version served, from which commit, who wrote it and who approved it (each chain's
    moves paired within it, then merged by time)."""
    by_chain: dict[str, list[AuditRecord]] = defaultdict(list)
    for c in labelled:
        by_chain[c.chain].append(c.record)
    found = moves_in(by_chain)
    if not found:
        return ""
    header = "".join(
        f"<th>{h}</th>"
        for h in ("id", "time (UTC)", "model@alias", "version", "commit", "authors", "approvers", "gates", "outcome")
    )
    rows = "".join(
        f'<tr class="move r-{_e(m.outcome)}" data-alias="{_e(m.model)}@{_e(m.alias)}">'
        + "".join(
            f"<td>{_e(c)}</td>"
            for c in (
                m.id,
                m.time.replace("T", " ")[:19],
                f"{m.model}@{m.alias}",
                "removed" if m.action == "delete" else f"{m.previous or '∅'} → {m.version or '∅'}",
                (m.commit or "")[:12],
                ", ".join(m.shown_authors()),
                ", ".join(m.shown_approvers()) or "-",
                _gates(m) or "-",
                m.outcome + (" (drift healed)" if m.healed_drift else "") + (f": {m.error}" if m.error else ""),
            )
        )
        + "</tr>"
        for m in found
    )
    return f'<h2>Promotions</h2><table id="promotions"><tr>{header}</tr>{rows}</table>'


def _row(labelled: ChainRecord) -> str:
    r = labelled.record
    data = {
        "tenant": r.tenant or "",
        "kind": r.kind,
        "actor": " ".join(r.actors),
        "decision": r.decision.value,
        "result": r.result.value,
        "chain": label(labelled.chain),
    }
    attrs = " ".join(f'data-{k}="{_e(v)}"' for k, v in data.items())
    cells = (
        labelled.id,
        r.time.replace("T", " ")[:19],
        r.tenant or "",
        ", ".join(r.attributed()),
        r.action,
        _target(r),
        f"{r.decision.value} ({r.rule})",
        r.result.value,
        r.error or "",
    )
    return f'<tr class="rec r-{_e(r.result.value)}" {attrs}>' + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>"


def _status(name: str, verification: Verification, several: bool) -> str:
    chain = f"{_e(label(name))}: " if several else ""
    if verification.ok:
        head = f" head {verification.head}" if verification.head else ""
        return f'<span class="ok">{chain}chain intact: {verification.count} records{_e(head)}</span>'
    problem = _e(verification.problem)
    return f'<span class="bad">{chain}chain BROKEN at record {verification.bad_seq}: {problem}</span>'


def render_html(records: Sequence[ChainRecord], verifications: Sequence[tuple[str, Verification]], source: str) -> str:
    """The whole report as one HTML document: `records` (one per change, every chain's, merged by time) and the
    verification of each chain they were read from."""
    several = len(verifications) > 1
    status = "; ".join(_status(name, v, several) for name, v in verifications)
    keys = [*_FILTERS, "chain"] if several else list(_FILTERS)
    plain = [c.record for c in records]
    header = "".join(
        f"<th>{h}</th>"
        for h in ("id", "time (UTC)", "tenant", "actors", "action", "target", "decision", "result", "error")
    )
    rows = "".join(_row(r) for r in records)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>mlcp audit report</title><style>{_CSS}</style></head><body>"
        f"<h1>mlcp audit report</h1><p><code>{_e(source)}</code> — {status}</p>"
        f"{_filters(records, keys)}{_timeline(plain)}{_per_tenant(plain)}{_promotions(records)}"
        f'<h2>Records <small>(<span id="shown">{len(records)}</span> of {len(records)} shown)</small></h2>'
        f'<table id="records"><tr>{header}</tr>{rows}</table>'
        f"<script>{_JS.replace('__KEYS__', json.dumps(keys))}</script></body></html>\n"
    )
