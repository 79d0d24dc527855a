"""The side of mlcp that talks to live systems: backends, applying, the reconcile loop."""
