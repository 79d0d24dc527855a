"""Live systems mlcp drives, one module each behind the `Backend` protocol."""
