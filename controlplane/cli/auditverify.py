"""`mlcp audit verify` and `mlcp audit anchor export`: proof that nobody edited, cut off or rebuilt the log.

Apart from the readers (controlplane.cli.audit) because they answer another
question: not what the log says, but whether it is the log that was written.
Verify recomputes every chain (the main one, and each shard chain found by its
pointer's label or its published anchor, so hiding a pointer hides no chain)
and checks each against the anchors the operator names: `cluster` (every one
published), SEQ:HASH (the main chain's), or a file exported earlier and kept
where nobody who writes the log can change it. Every record is read as the
readers read it (controlplane.audit.verify), so an intact chain is one every
reader takes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from controlplane.audit import Anchor, AnchorSet, AuditError, AuditStore, Head, Verification
from controlplane.cli import auditlog
from controlplane.cli.auditlog import AuditLog, Context, clear_errors
from controlplane.cli.console import Format, OutputOption, err, fail, line_safe, markup_safe, out, print_json
from controlplane.cli.options import ControllerNamespace, Kubeconfig
from reconciler.targets import DEFAULT_CONTROLLER_NAMESPACE, Targets

_SEQ_HASH = re.compile(r"[0-9]+:[0-9a-f]{64}")


def _anchor(text: str | None, targets: Targets) -> tuple[AnchorSet, str] | None:
    """The anchors `--anchor` names — `cluster` (every published one), SEQ:HASH (the main chain's), or a file from
    `mlcp audit anchor export` — and where they came from."""
    if text is None:
        return None
    if _SEQ_HASH.fullmatch(text.strip()):
        return AnchorSet(Anchor(Head.parse(text))), "the command line"
    if text == auditlog.CLUSTER:
        return _published(targets)
    return AnchorSet.parse(_anchor_file(Path(text)), text), text


ANCHOR_FILE_BYTES = 1024 * 1024
"""The most of an anchor file read: an export is ~250 bytes a chain, so this holds thousands of shard chains."""


def _anchor_file(path: Path) -> str:
    """The text of an anchor file, read in bounded memory; a file that is no export (too long, not UTF-8, not a
    file) is a clear error, never a traceback nor a read of all of it (anchor copies come back from elsewhere)."""
    hint = "--anchor takes SEQ:HASH, `cluster`, or a file written by `mlcp audit anchor export`"
    try:
        with path.open("rb") as stream:
            data = stream.read(ANCHOR_FILE_BYTES + 1)
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the anchor file: {exc.strerror}", hint) from None
    if len(data) > ANCHOR_FILE_BYTES:
        raise AuditError(f"{path}: not an exported anchor: longer than {ANCHOR_FILE_BYTES} bytes", hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditError(f"{path}: not an exported anchor: not UTF-8 text (byte {exc.start})", hint) from None


def _published(targets: Targets) -> tuple[AnchorSet, str]:
    """Every anchor published in the cluster: the main chain's, and each shard chain's (reconciler.anchors)."""
    from reconciler import anchors  # noqa: PLC0415 - cluster clients load only when used

    kube = auditlog.cluster_client(targets)
    found = anchors.read(kube)
    if found is None:
        raise AuditError(
            f"no audit anchor is published in {kube.controller_namespace}",
            "the leader publishes one after every pass that wrote records (so does `mlcp apply` with the "
            "shared log); check --controller-namespace",
        )
    shards = {chain: anchors.read(kube, chain) for chain in anchors.chains(kube)}
    return AnchorSet(found, {chain: a for chain, a in shards.items() if a is not None}), anchors.source(kube)


def verify(
    audit_log: AuditLog = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            help="The heads the log must still hold: `cluster` (every chain's, as published), SEQ:HASH (the main "
            "chain's), or a file from `mlcp audit anchor export` (every chain it names). Catches a cut-off end, "
            "a rewritten chain and a chain removed.",
        ),
    ] = None,
    output: OutputOption = Format.text,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Recompute the hash chain; exit 0 if intact, 1 naming the first record that was edited, dropped or moved, or
    that no reader takes (not in the form mlcp writes)."""
    targets = Targets(kubeconfig, context, controller_namespace=controller_namespace)
    with clear_errors():
        store = auditlog.open_store(audit_log, targets)
        found = _anchor(anchor, targets)
        expected = found[0].chains if found is not None else {}
        result = store.verify(found[0].main.head if found is not None else None)
        shards = _shard_chains(store, expected)
    if found is not None and output is Format.text:
        published, source = found[0].main, found[1]
        log = line_safe(published.log)
        named = f" for {log}" if published.log else ""
        err.print(f"anchor {line_safe(published.head)} from {line_safe(source)}{named}")
        if published.log and published.log != store.location:
            err.print(f"[yellow]![/] that anchor was published for {log}; this log is {line_safe(store.location)}")
        unchecked = sorted(set(expected) - {name for name, _ in shards})
        if unchecked:
            err.print(
                f"[yellow]![/] the anchors of chain(s) {line_safe(', '.join(unchecked))} were not checked: "
                f"{line_safe(store.location)} holds one chain (they are in the cluster log)"
            )
    if output is Format.json:
        body = _verification(result)
        print_json({**body, "chains": [{"chain": name, **_verification(v)} for name, v in shards]} if shards else body)
    broken = [(name, v) for name, v in shards if not v.ok]
    if not result.ok:
        raise fail(f"audit log broken at record {result.bad_seq}: {result.problem}", "records before it are intact")
    if output is Format.text:
        err.print(f"[green]✓[/green] {result.count} record(s), chain intact")
        if result.head:
            out.print(f"head {line_safe(result.head)}")
        for name, v in shards:
            if v.ok:
                anchored = " (its anchor held)" if name in expected else ""
                err.print(f"[green]✓[/green] {line_safe(name)}: {v.count} record(s), chain intact{anchored}")
    if broken:
        name, v = broken[0]
        raise fail(f"audit chain {name} broken at record {v.bad_seq}: {v.problem}", "records before it are intact")


def _verification(result: Verification) -> dict[str, object]:
    head = {"seq": result.head.seq, "hash": result.head.hash} if result.head else None
    return {"ok": result.ok, "count": result.count, "head": head, "badSeq": result.bad_seq, "problem": result.problem}


def _shard_chains(store: AuditStore, expected: Mapping[str, Anchor]) -> list[tuple[str, Verification]]:
    """With a sharded controller, each shard's own chain beside the main one (reconciler.auditstore), verified;
    every chain found in the cluster, and every chain an anchor names (one that is gone fails as cut off), each
    against its anchor."""
    from reconciler.auditstore import ClusterStore  # noqa: PLC0415 - cluster clients load only when used

    if not isinstance(store, ClusterStore) or store.chain:
        return []
    found = []
    for chain in sorted({*auditlog.shard_chains(store.kube), *expected}):
        anchor = expected.get(chain)
        found.append((chain, ClusterStore(store.kube, chain).verify(anchor.head if anchor else None)))
    return found


def anchor_export(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    controller_namespace: ControllerNamespace = DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Print (or write) every anchor published (the main chain's, and each shard chain's under `chains`), as JSON
    that `mlcp audit verify --anchor FILE` reads."""
    targets = Targets(kubeconfig, context, controller_namespace=controller_namespace)
    with clear_errors():
        found, _ = _published(targets)
    text = json.dumps(found.to_data(), sort_keys=True) + "\n"
    if out_file is None:
        typer.echo(text, nl=False)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out_file}: {exc.strerror}") from None
    shards = f" and the anchors of {len(found.chains)} shard chain(s)" if found.chains else ""
    err.print(f"exported anchor {line_safe(found.main.head)}{shards} to {markup_safe(out_file)}")
