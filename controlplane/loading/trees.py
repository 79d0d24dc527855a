"""Where the loader's files come from: a folder on disk, or file contents already in memory.

The loader (repo.py) walks and reads through a `Tree`, so the trusted base (reconciler/trust.py), whose files
come from git's object store, is loaded from the blobs it read with the same walk, the same refusals and the
same budgets as a work tree, instead of being written to a private folder and read back: at 10,000 tenants
that was 10,000 folders made, 10,000 files written, then listed, stat'ed and read again, on every plan.

A `MemoryTree` holds regular files only: what git lists as a link, a submodule, or a file over the size limit
is refused by its reader before the tree is built, as it was before anything was written to disk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a folder, typed without following it (a link to a folder is a link, not a folder)."""

    name: str
    folder: bool
    link: bool


@dataclass(frozen=True, slots=True)
class Info:
    """What `lstat` says of a path: its type bits and its size."""

    mode: int
    size: int


class Tree(Protocol):
    """A repo's files by repo-relative POSIX path (`""` is the root); every method reads, none follows links."""

    @property
    def root(self) -> Path:
        """Where the files are (a work tree) or would be (a private folder for what must be a file, e.g. signers)."""
        ...

    def exists(self, rel: str) -> bool:
        """Whether `rel` names something (links followed, as `Path.exists`)."""
        ...

    def is_link(self, rel: str) -> bool: ...

    def scan(self, rel: str) -> list[Entry] | None:
        """The entries of folder `rel` in name order; None when it is missing or cannot be listed."""
        ...

    def lstat(self, rel: str) -> Info:
        """Raises OSError when `rel` cannot be stat'ed."""
        ...

    def read_text(self, rel: str) -> str:
        """The UTF-8 text with universal newlines (as `Path.read_text`); raises OSError or UnicodeDecodeError."""
        ...


class FolderTree:
    """A config repo's work tree on disk, by string paths (building a `Path` per file was measurable)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._prefix = f"{root}{os.sep}"

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, rel: str) -> str:
        return self._prefix + rel if rel else str(self._root)

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._path(rel))  # noqa: PTH110 - see the class

    def is_link(self, rel: str) -> bool:
        return os.path.islink(self._path(rel))  # noqa: PTH114 - see the class

    def scan(self, rel: str) -> list[Entry] | None:
        try:
            with os.scandir(self._path(rel)) as scan:
                found = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            return None
        return [Entry(entry.name, _is_dir(entry), entry.is_symlink()) for entry in found]

    def lstat(self, rel: str) -> Info:
        info = os.lstat(self._path(rel))
        return Info(info.st_mode, info.st_size)

    def read_text(self, rel: str) -> str:
        with open(self._path(rel), encoding="utf-8") as file:  # noqa: PTH123 - see the class
            return file.read()


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


class MemoryTree:
    """Regular files given by content (e.g. git blobs); folders are those their paths imply.

    Paths must be clean (no empty, `.` or `..` part, no leading `/`): the caller refuses others first.
    """

    def __init__(self, root: Path, files: Mapping[str, bytes]) -> None:
        self._root = root
        self._files = dict(files)
        children: dict[str, dict[str, bool]] = {"": {}}
        for path in self._files:
            parent = ""
            for part in path.split("/")[:-1]:
                here = f"{parent}/{part}" if parent else part
                children[parent][part] = True
                children.setdefault(here, {})
                parent = here
            children[parent].setdefault(path.rpartition("/")[2], False)
        self._folders = {
            rel: [Entry(name, folder, False) for name, folder in sorted(names.items())]
            for rel, names in children.items()
        }

    @property
    def root(self) -> Path:
        return self._root

    def exists(self, rel: str) -> bool:
        return rel in self._files or rel in self._folders

    def is_link(self, rel: str) -> bool:
        return False

    def scan(self, rel: str) -> list[Entry] | None:
        return self._folders.get(rel)

    def lstat(self, rel: str) -> Info:
        if rel in self._folders:
            return Info(stat.S_IFDIR | 0o755, 0)
        data = self._files.get(rel)
        if data is None:
            raise FileNotFoundError(2, os.strerror(2), rel)
        return Info(stat.S_IFREG | 0o644, len(data))

    def read_text(self, rel: str) -> str:
        text = self._files[rel].decode("utf-8")
        # Universal newlines, as reading the same bytes from a file in text mode gives.
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
