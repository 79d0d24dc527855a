"""What every renderer shares: the labels and annotations mlcp puts on each object."""

from __future__ import annotations

import re
from pathlib import Path

from controlplane.loading.repo import load_repo
from controlplane.rendering import RenderContext, render
from controlplane.specs.base import name_limit
from controlplane.validation import validate
from tests.controlplane.helpers import edit

LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def test_the_longest_names_validation_allows_render_valid_label_values(repo: Path) -> None:
    # a TrainingJob's longest is also bounded by the pods JobSet names after it: 48 with the template's two nodes
    quota, job = "q" * name_limit("Quota"), "t" * min(name_limit("TrainingJob"), 48)
    edit(repo, "tenants/nlp/quota.yaml", "  name: compute\n", f"  name: {quota}\n")
    edit(repo, "tenants/vision/training/finetune-detector.yaml", "  name: finetune-detector\n", f"  name: {job}\n")
    loaded = load_repo(repo)
    assert validate(loaded) == []
    labels = [
        (obj.ref, key, value)
        for obj in render(RenderContext(loaded))
        if obj.ref.system == "kubernetes"
        for key, value in obj.manifest["metadata"].get("labels", {}).items()
    ]
    assert ("Quota." + quota) in {value for _, _, value in labels}
    invalid = [(ref, key, value) for ref, key, value in labels if len(value) > 63 or not LABEL_VALUE.fullmatch(value)]
    assert invalid == []
