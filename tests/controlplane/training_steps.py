"""A pipeline with a training step, shared by the tests of its spec, rules and rendering."""

from __future__ import annotations

PATH = "tenants/vision/pipelines/prepare-and-train.yaml"

PIPELINE = """\
apiVersion: mlcp.dev/v1alpha1
kind: Pipeline
metadata:
  name: prepare-and-train
spec:
  parameters:
    - {name: publish, value: "false", enum: ["true", "false"]}
  steps:
    - name: prepare
      image: ghcr.io/example/prepare:1.0
      command: [prepare]
    - name: train
      dependsOn: [prepare]
      when: "{{workflow.parameters.publish}} == true"
      timeout: 12h
      retry: {limit: 1}
      trainingJob:
        runtime: {name: torch-distributed}
        numNodes: 2
        resourcesPerNode: {cpu: "4", memory: 16Gi, gpu: 1}
        image: ghcr.io/example/vision-train:2.0.0
        command: [torchrun, train.py]
        args: [--epochs, "10"]
        secretEnv:
          - name: HF_TOKEN
            secret: {name: hf-credentials, key: token}
        experiment: detector
    - name: evaluate
      image: ghcr.io/example/evaluate:1.0
      command: [evaluate]
      dependsOn: [train]
"""
