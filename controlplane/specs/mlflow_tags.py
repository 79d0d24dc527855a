"""An Experiment's MLflow tags as the tracking server takes them, and none of mlcp's or MLflow's own.

MLflow refuses, at the create or tag write, a tag key outside `[/\\w.\\- :]`, one that is not a normal path (`a//b`,
`./a`, `/a`, `..`), a key over 250 characters and a value over 20,000: mlcp validated any string, so the spec
passed `mlcp validate` and `mlcp plan` and failed at every apply. And a key mlcp writes itself (`mlcp.dev/…`:
its ownership mark, tenant, owners, the list of the spec's own keys, its grant marks) was silently overwritten, or,
once removed from the spec, deleted by mlcp from the experiment (the spec's keys are what mlcp removes when they
leave it); MLflow's own (`mlflow.…`: the description is `mlflow.note.content`) change what MLflow shows and does.
Both are refused at their line, as labels and annotations under `mlcp.dev/` are (controlplane/specs/metadata.py).
"""

from __future__ import annotations

import posixpath
import re

from controlplane.specs.model import errors_at

KEY_MAX = 250
"""MLflow's longest experiment tag key."""
VALUE_MAX = 20_000
"""MLflow's longest experiment tag value (the description is one: `mlflow.note.content`)."""
NAME_MAX = 500
"""MLflow's longest experiment name."""
_KEY = re.compile(r"[/\w.\- :]+")
"""MLflow's tag key characters (its `validate_param_and_metric_name`, off Windows)."""
RESERVED = ("mlcp.dev/", "mlflow.")
"""Key prefixes of tags mlcp writes (and reads) itself, and of MLflow's own."""


def key_problem(key: str) -> str | None:
    """Why MLflow refuses `key` as an experiment tag key, or mlcp keeps it for itself (None: neither)."""
    if not _KEY.fullmatch(key):
        return (
            f"tag key {key!r}: MLflow takes only letters, digits, '_', '-', '.', ' ', ':' and '/' in a key, and "
            "would refuse the experiment at apply"
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        return f"tag key {key!r}: MLflow takes a key only as a normal relative path (no '//', './', '..', leading '/')"
    if len(key) > KEY_MAX:
        return f"tag key {key[:40]!r}…: MLflow takes keys of at most {KEY_MAX} characters, not {len(key)}"
    lowered = key.lower()
    if lowered.startswith(RESERVED):
        return (
            f"tag key {key!r} is {'mlcp' if lowered.startswith(RESERVED[0]) else 'MLflow'}'s own "
            f"({' and '.join(p + '*' for p in RESERVED)}): mlcp and MLflow set and read these, a spec sets none "
            "(the description has its own field)"
        )
    return None


def checked_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags of an Experiment's `tracking`, each problem at its key's line."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in tags.items():
        why = key_problem(key)
        if why is None and len(value) > VALUE_MAX:
            why = f"tag {key!r}: MLflow takes values of at most {VALUE_MAX} characters, not {len(value)}"
        if why is not None:
            problems.append(((key,), why))
    if problems:
        raise errors_at(problems)
    listed = len(",".join(tags))
    if listed > VALUE_MAX:
        raise ValueError(
            f"the tag keys take {listed} characters listed: mlcp records them in one tag (mlcp.dev/managed-tags, so "
            f"a key removed from the spec is removed from the experiment), which MLflow holds to {VALUE_MAX}; "
            "use fewer or shorter keys"
        )
    return tags
