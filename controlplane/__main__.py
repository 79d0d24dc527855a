"""Lets `python -m controlplane` behave exactly like the `mlcp` console script."""

from controlplane.cli.app import main

main()
