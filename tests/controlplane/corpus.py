"""The golden corpus of pipelines (tests/controlplane/pipeline_corpus), each with its expected verdict.

A file's header says what mlcp must answer and which real gate answers the same:
`# verdict: valid`, or `# verdict: invalid: <part of mlcp's message>` with
`# argo: crd` (the API server with Argo's full CRD refuses it), `controller`
(the workflow-controller refuses a run of it), `cron` (the controller refuses
the CronWorkflow and never schedules it), `pod` (Argo runs it, and the API server
refuses the step's pod), or `none: <why>` where mlcp is deliberately stricter than
every server. The unit test checks mlcp's verdicts; the integration test
(tests/integration/test_pipeline_verdicts.py) checks the real servers' verdicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent / "pipeline_corpus"
_VERDICT = re.compile(r"^# verdict: (valid|invalid: (?P<message>.+))$", re.MULTILINE)
_ARGO = re.compile(r"^# argo: (?P<gate>crd|controller|cron|pod|none)(: .+)?$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    valid: bool
    message: str | None
    """Part of mlcp's message for an invalid case."""
    gate: str | None
    """Which real gate refuses an invalid case: crd, controller, cron, pod, or none."""

    @property
    def scheduled(self) -> bool:
        return "\n  schedule:" in self.text


def cases() -> list[Case]:
    found = []
    for path in sorted(CORPUS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        verdict = _VERDICT.search(text)
        if verdict is None:
            raise ValueError(f"{path}: no `# verdict:` line")
        argo = _ARGO.search(text)
        message = verdict.group("message")
        if message is not None and argo is None:
            raise ValueError(f"{path}: an invalid case needs `# argo:` naming the gate that refuses it")
        found.append(Case(path.stem, text, message is None, message, argo.group("gate") if argo else None))
    return found
