"""A pipeline's expressions checked as Argo evaluates them: a step's `when`, a schedule's `when` and `stopWhen`.

Argo's validation (`workflow/validate`) never reads these: a step's `when` is
evaluated when the step is due, a schedule's `when` at each tick and its
`stopStrategy.expression` after each run, so an expression Argo cannot read
merges, applies and then fails a run or every tick. Part of
`controlplane.pipeline_rules`; the reading itself is `govaluate` (for `when`).

- A step's `when` (a DAG task's): its tags are substituted first (tags Argo does
  not know are left as `{{...}}`, which govaluate cannot read), then govaluate
  reads it with bare words as strings.
- A schedule's `when`: only the CronWorkflow's own variables are substituted
  (`{{cronworkflow.failed}}`, ... or `{{= expression }}`; any other tag fails the
  tick), then govaluate reads it with bare words as variables nothing defines.
- `stopWhen` is expr-lang, evaluated with only `cronworkflow` defined and no
  tags substituted: its syntax is expr-lang's, so only what can be said without
  a second language is checked here (no `{{`, balanced brackets and quotes, the
  `cronworkflow` fields that exist, and a `matches` pattern Go's regexp compiles:
  `exprpatterns`, as for every `{{= ... }}` tag).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from controlplane import exprpatterns, govaluate, govaluate_tokens, pipeline_refs
from controlplane.errors import Diagnostic
from controlplane.loading.sources import LoadedSpec
from controlplane.specs import Pipeline
from controlplane.specs.pipeline_steps import DagNode, Step

Path = pipeline_refs.Path

CRON_FIELDS = frozenset({"name", "namespace", "labels", "annotations", "failed", "succeeded", "lastScheduledTime"})
"""What Argo v4.0.5 defines under `cronworkflow` for a schedule's expressions (cron/operator.go expressionEnv)."""
CRON_TAGS = frozenset(
    f"cronworkflow.{f}" for f in ("name", "namespace", "failed", "succeeded", "lastScheduledTime")
) | {"cronworkflow.labels.json", "cronworkflow.annotations.json"}
"""The simple `{{...}}` tags a schedule's `when` may hold (maps only as their `.json`)."""
_FIELD = re.compile(r"\bcronworkflow\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`", re.DOTALL)
_PAIRS = {")": "(", "]": "[", "}": "{"}
STOP_HINT = "write an expr-lang condition on the schedule, e.g. `cronworkflow.failed >= 3`"
WHEN_HINT = "e.g. `{{workflow.parameters.deploy}} == true` or `'{{tasks.check.outputs.result}}' == 'ok'`"


def _task_tag_problem(tag: str, step: DagNode) -> str | None:
    """Why Argo leaves `tag` unsubstituted in a task's `when`, or None (the tag's scope is pipeline_refs')."""
    fans_out = isinstance(step, Step) and bool(step.with_items or step.with_param)
    if tag.startswith("=") or tag.startswith(pipeline_refs.CHECKED_PREFIXES) or (tag == "item" and fans_out):
        return None
    if tag == "item":
        return "{{item}} is only set in a step that fans out (withItems or withParam)"
    return f"Argo knows no {{{{{tag}}}}} here and leaves it in the expression, which it then cannot read"


def step_when(loaded: LoadedSpec, step: DagNode, base: Path) -> Iterator[Diagnostic]:
    """A DAG task's `when`, as the controller substitutes and evaluates it when the step is due."""
    if step.when is None:
        return
    path = (*base, "when")
    for match in govaluate_tokens.TAG.finditer(step.when):
        why = _task_tag_problem(match.group(1).strip(), step)
        if why is not None:
            yield pipeline_refs.diag(loaded, path, why, WHEN_HINT, "expression")
            return
    found = govaluate.problem(step.when, words_are_strings=True)
    if found is not None:
        yield pipeline_refs.diag(
            loaded, path, f"Argo cannot evaluate `when` {_shown(step.when)}: {found}", found.hint, "expression"
        )


def schedule_expressions(loaded: LoadedSpec, pipeline: Pipeline) -> Iterator[Diagnostic]:
    schedule = pipeline.spec.schedule
    if schedule is None:
        return
    if schedule.when is not None:
        yield from _schedule_when(loaded, schedule.when, ("spec", "schedule", "when"))
    if schedule.stop_when is not None:
        hint = STOP_HINT
        why = stop_problem(schedule.stop_when)
        if why is None:
            hint, why = exprpatterns.HINT, exprpatterns.problem(schedule.stop_when)
        if why is not None:
            yield pipeline_refs.diag(
                loaded,
                ("spec", "schedule", "stopWhen"),
                f"Argo cannot evaluate `stopWhen` {_shown(schedule.stop_when)}: {why}",
                hint,
                "expression",
            )


def _schedule_when(loaded: LoadedSpec, when: str, path: Path) -> Iterator[Diagnostic]:
    hint = "e.g. `{{cronworkflow.failed}} < 3` or `{{= cronworkflow.failed < 3 }}`"
    for match in govaluate_tokens.TAG.finditer(when):
        tag = match.group(1).strip()
        if not tag.startswith("=") and tag not in CRON_TAGS:
            yield pipeline_refs.diag(
                loaded,
                path,
                f"a schedule's `when` knows no {{{{{tag}}}}}: every tick would fail",
                f"use {', '.join(sorted('{{' + t + '}}' for t in CRON_TAGS))} or a {{{{= expression }}}}",
                "expression",
            )
            return
    tagged = next(pipeline_refs.expression_tags(loaded, path, when), None)
    if tagged is not None:
        yield tagged
        return
    found = govaluate.problem(when, words_are_strings=False)
    if found is not None:
        yield pipeline_refs.diag(
            loaded, path, f"Argo cannot evaluate `when` {_shown(when)}: {found}", found.hint or hint, "expression"
        )


def stop_problem(expression: str) -> str | None:
    """What expr-lang refuses in a CronWorkflow's stop expression that can be said without parsing expr-lang."""
    if len(expression) > govaluate_tokens.MAX_LENGTH:
        return f"it has {len(expression)} characters (at most {govaluate_tokens.MAX_LENGTH})"
    if not expression.strip():
        return "it is empty"
    if "{{" in expression:
        return (
            "it is not a template: Argo substitutes no {{...}} here; name `cronworkflow.failed` and the like directly"
        )
    unquoted = _QUOTED.sub("0", expression)  # a literal's text is no bracket, quote or field
    if any(q in unquoted for q in "\"'`"):
        return "a quote is not closed"
    stack: list[str] = []
    for ch in unquoted:
        if ch in "([{":
            stack.append(ch)
        elif ch in _PAIRS and (not stack or stack.pop() != _PAIRS[ch]):
            return f"a {ch!r} closes nothing open"
        if len(stack) > govaluate_tokens.MAX_DEPTH:
            return f"brackets nested deeper than {govaluate_tokens.MAX_DEPTH}"
    if stack:
        return f"a {stack[-1]!r} is not closed"
    for match in _FIELD.finditer(unquoted):
        if match.group(1) not in CRON_FIELDS:
            return f"cronworkflow has no field {match.group(1)!r} (it has {', '.join(sorted(CRON_FIELDS))})"
    return None


def _shown(expression: str) -> str:
    return repr(expression) if len(expression) <= 80 else repr(expression[:77] + "...")
