"""File names as git stores them: bytes, which are text only when they are UTF-8.

A name that is not UTF-8 reaches Python with surrogates (`\\udcff`, os.fsdecode's escape), and a spec's path
travels as text everywhere after loading: an annotation on every object it renders, mlcp's inventory records,
audit records, a plan's `source`, a governance object's name. No JSON encoder writes a surrogate, so one such
file in any tenant's folder ended every reconcile pass in a traceback at the inventory write, for every tenant.
The loader refuses such names where it meets them, and shows them with their bytes escaped.
"""

from __future__ import annotations

import os


def is_text(name: str) -> bool:
    """Whether `name` (a file or folder name, or a path) was UTF-8 on disk or in git."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(name: str) -> str:
    """`name` as text: its bytes that are not UTF-8 written as `\\xff`."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
