"""Hostile config repos, generated from a seed: what a committer could push to make mlcp crash, stall or misapply.

Each case starts from the repo template and applies one to three attacks from
these families, aimed at one tenant folder (the victim's own, the one its
committer controls) and, for claims, at the other tenant:

* `mutate`: the template's specs with keys removed, values of the wrong type
  or absurd size, characters flipped, inserted or cut;
* `garbage`: structural noise: random bytes, YAML punctuation soup, truncated
  files, anchors and aliases with nothing sensible around them;
* `huge`: deep nesting, wide lists, long scalars, alias bombs, thousands of
  documents, files just over the size limit;
* `encoding`: UTF-16, byte-order marks, Latin-1, NUL bytes, CR line ends,
  invalid UTF-8, zero-width and right-to-left characters in names;
* `symlink`: links to /etc/passwd, into the other tenant, dangling, looping,
  a linked tenant folder, FIFOs and folders that look like files;
* `claims`: the other tenant's namespace, models, experiments or name claimed,
  reserved namespaces, specs duplicated, tenant folders with odd names.

`anywhere=True` also lets attacks hit mlcp.yaml and policies/ and make tenant
folders not named as DNS labels (global errors: fine for `mlcp validate`, but
the loop then stops every tenant by design, so the reconcile sample keeps to
validly named tenant folders). The same seed always builds the
same repo: a failure is reproduced with `python -m tests.fuzz --seed N --cases 1`.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "repo_template"
HOSTILE_VALUES: tuple[Any, ...] = (
    None, -1, 0, 2**64, -(2**63), 1e308, "", " ", "x" * 5000, [], {}, [[[]]], {"a": {"b": {"c": None}}},
    "../../etc/passwd", "kube-system", "default", "mlcp-system", "ｎｌｐ", "vi\u202esion", "a\u200bb", "🙂",
    True, "yes", "0x1F", "1e309", ".inf", "-.nan", "null", "~", "\x00", "a\nb", "{{workflow.parameters.x}}",
    "$(rm -rf /)", "'; DROP TABLE", "x" * 64, "-", "UPPER", "a/b", "a..b", "*", "@own",
)  # fmt: skip
PUNCTUATION = "[]{}:,-?&*!|>'\"%@`#\n\t  abc012"
NOT_APPLICABLE = (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError)
"""What an attack raises when an earlier one broke its input (a tenant.yaml that is no longer a mapping)."""


@dataclass
class Case:
    """One generated repo: its seed, what was done to it, and whether a git commit can hold it."""

    seed: int
    attacks: list[str] = field(default_factory=list)
    committable: bool = True
    """False when it holds what git cannot store (FIFOs)."""

    def __str__(self) -> str:
        return f"seed {self.seed}: {'; '.join(self.attacks)}"


@dataclass
class Target:
    root: Path
    victim: str
    other: str
    anywhere: bool
    rng: random.Random
    case: Case

    def files(self, tenant: str | None = None) -> list[Path]:
        base = self.root / "tenants" / (tenant or self.victim)
        found = sorted(p for p in base.rglob("*.yaml") if p.is_file() and not p.is_symlink())
        if self.anywhere and tenant is None and self.rng.random() < 0.15:
            found += [self.root / "mlcp.yaml", *sorted((self.root / "policies").glob("*.yaml"))]
        return [p for p in found if p.exists()]

    def pick(self) -> Path:
        files = self.files()
        return self.rng.choice(files) if files else self.new_file()

    def new_file(self, suffix: str = ".yaml") -> Path:
        folder = self.root / "tenants" / self.victim / self.rng.choice(["", "pipelines", "extra/deeper"])
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"fuzz-{self.rng.randrange(10**6)}{suffix}"

    def note(self, text: str) -> None:
        self.case.attacks.append(text)


@functools.cache
def _template_files() -> dict[str, bytes]:
    names = [
        TEMPLATE / "mlcp.yaml",
        *(p for top in ("policies", "tenants") for p in sorted((TEMPLATE / top).rglob("*"))),
    ]
    return {p.relative_to(TEMPLATE).as_posix(): p.read_bytes() for p in names if p.is_file()}


def copy_template(root: Path) -> None:
    """The template's specs under `root` (read once per process: thousands of cases copy it)."""
    for rel, data in _template_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def scratch_dir() -> str | None:
    """Where cases are best built: memory (/dev/shm) when there is one, else the default temp dir."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _walk_to(data: Any, rng: random.Random) -> tuple[Any, Any]:
    """A random (container, key) inside `data`."""
    parent: Any = None
    key: Any = None
    node = data
    while isinstance(node, dict | list) and node and rng.random() < 0.8:
        parent = node
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        node = node[key]
    return parent, key


def mutate(t: Target) -> None:
    path = t.pick()
    text = path.read_text(encoding="utf-8", errors="replace")
    if t.rng.random() < 0.5:
        chars = list(text)
        for _ in range(t.rng.randint(1, 8)):
            at = t.rng.randrange(len(chars) + 1)
            action = t.rng.choice(("flip", "insert", "delete", "cut"))
            if action == "cut":
                chars = chars[:at]
            elif action == "delete" and at < len(chars):
                del chars[at]
            else:
                chars.insert(at, t.rng.choice(PUNCTUATION))
        path.write_text("".join(chars), encoding="utf-8")
        t.note(f"characters changed in {path.name}")
        return
    try:
        docs = list(yaml.load_all(text, Loader=yaml.CSafeLoader)) if len(text) < 65_536 else [None]
    except (yaml.YAMLError, RecursionError):
        docs = [None]  # what an earlier attack left (deep, huge or broken): replaced by one hostile value
    data = docs[0] if docs else None
    parent, key = _walk_to(data, t.rng)
    value = t.rng.choice(HOSTILE_VALUES)
    if parent is None:
        data = value
    elif isinstance(parent, dict) and t.rng.random() < 0.3:
        del parent[key]
        parent[t.rng.choice(["", "x" * 300, "kind", "\u200b", "spec"])] = value
    else:
        parent[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    t.note(f"{key!r} set to {str(value)[:20]!r} in {path.name}")


def garbage(t: Target) -> None:
    path = t.new_file()
    kind = t.rng.choice(("bytes", "punctuation", "truncated", "anchors", "separators"))
    if kind == "bytes":
        path.write_bytes(t.rng.randbytes(t.rng.randint(1, 4096)))
    elif kind == "punctuation":
        path.write_text("".join(t.rng.choice(PUNCTUATION) for _ in range(t.rng.randint(1, 2000))), encoding="utf-8")
    elif kind == "truncated":
        source = t.rng.choice(t.files(t.other) or t.files() or [TEMPLATE / "mlcp.yaml"]).read_text(encoding="utf-8")
        path.write_text(source[: t.rng.randrange(len(source) + 1)], encoding="utf-8")
    elif kind == "anchors":
        parts = [
            f"&a{i} [{', '.join(f'*a{t.rng.randrange(i)}' for _ in range(3))}]" if i else "&a0 x" for i in range(20)
        ]
        path.write_text("k: [" + ", ".join(parts) + "]\n", encoding="utf-8")
    else:
        path.write_text("---\n" * t.rng.randint(1, 3000) + "...\n" * t.rng.randint(0, 5), encoding="utf-8")
    t.note(f"garbage ({kind}) in {path.name}")


def huge(t: Target) -> None:
    path = t.new_file()
    kind = t.rng.choice(("deep-flow", "deep-block", "wide", "long", "bomb", "documents", "oversize", "files"))
    depth = t.rng.choice((70, 500, 20_000))
    if kind == "deep-flow":
        path.write_text("a: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    elif kind == "deep-block":
        path.write_text("".join("  " * i + f"k{i}:\n" for i in range(min(depth, 2000))) + "\n", encoding="utf-8")
    elif kind == "wide":
        width = t.rng.choice((1_000, 1_000, 20_000, 120_000))  # the last one crosses the node budget
        path.write_text("a: [" + ", ".join(["1"] * width) + "]\n", encoding="utf-8")
    elif kind == "long":
        path.write_text("a: " + "x" * t.rng.randint(100_000, 1_000_000) + "\n", encoding="utf-8")
    elif kind == "bomb":
        layer = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        layer += "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\n"
        path.write_text(layer * t.rng.randint(1, 60), encoding="utf-8")
    elif kind == "documents":
        path.write_text("a: 1\n---\n" * t.rng.choice((500, 1_500)), encoding="utf-8")
    elif kind == "oversize":
        path.write_text("#" * (1024 * 1024) + "\n", encoding="utf-8")
    else:
        folder = path.parent / "many"
        folder.mkdir(exist_ok=True)
        for index in range(t.rng.choice((20, 50, 200, 1_001))):  # the last one crosses the tenant's file budget
            (folder / f"f{index}.yaml").write_text(f"n: {index}\n", encoding="utf-8")
    t.note(f"huge ({kind}) in {path.parent.name or 'tenant'}/{path.name}")


def encoding(t: Target) -> None:
    path = t.pick()
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = t.rng.choice(("utf-16", "bom", "latin-1", "nul", "cr", "invalid", "zero-width", "rtl"))
    data: bytes
    if kind == "utf-16":
        data = text.encode("utf-16")
    elif kind == "bom":
        data = b"\xef\xbb\xbf" + text.encode()
    elif kind == "latin-1":
        data = (text + "# café\n").encode("latin-1", errors="replace")
    elif kind == "nul":
        at = t.rng.randrange(len(text) + 1)
        data = (text[:at] + "\x00" + text[at:]).encode()
    elif kind == "cr":
        data = text.replace("\n", t.rng.choice(("\r", "\r\n", "\n\r"))).encode()
    elif kind == "invalid":
        data = text.encode() + b"\xff\xfe\xc3("
    elif kind == "zero-width":
        data = text.replace("name: ", "name: \u200b", 1).replace("kind:", "k\u200bind:", t.rng.randint(0, 1)).encode()
    else:
        data = text.replace("name: ", "name: \u202e", 1).encode()
    path.write_bytes(data)
    t.note(f"encoding ({kind}) of {path.name}")


def symlink(t: Target) -> None:
    base = t.root / "tenants" / t.victim
    other = t.root / "tenants" / t.other
    kind = t.rng.choice(("passwd", "other-file", "dangling", "folder", "tenant", "loop", "fifo", "dir-named-yaml"))
    link = base / f"link-{t.rng.randrange(1000)}.yaml"
    if kind == "passwd":
        link.symlink_to("/etc/passwd")
    elif kind == "other-file":
        link.symlink_to(os.path.relpath(other / "tenant.yaml", base))
    elif kind == "dangling":
        link.symlink_to("nowhere.yaml")
    elif kind == "folder":
        (base / "borrowed").symlink_to(os.path.relpath(other / "pipelines", base))
    elif kind == "tenant":
        (t.root / "tenants" / f"{t.victim}-twin").symlink_to(t.other)
    elif kind == "loop":
        link.symlink_to(link.name + ".b")
        (base / (link.name + ".b")).symlink_to(link.name)
    elif kind == "fifo":
        os.mkfifo(link)
        t.case.committable = False
    else:
        (base / "folder.yaml").mkdir(exist_ok=True)
    t.note(f"symlink ({kind})")


def _edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


CONTESTED = "the other tenant's namespace"
"""Noted on a claim of the other tenant's namespace: in a first apply no inventory record says whose it is, and
the trusted base (which declares it the other tenant's) decides: the claimant is refused and the other tenant
converges (reconciler/backends/kubernetes_namespaces.py)."""


def claims(t: Target) -> None:
    base = t.root / "tenants" / t.victim
    other = t.root / "tenants" / t.other
    kind = t.rng.choice(("namespace", "reserved", "name", "spec-tenant", "duplicate", "model", "new-tenant"))
    theirs = yaml.safe_load((other / "tenant.yaml").read_text(encoding="utf-8"))
    namespace = theirs["spec"].get("namespace", t.other)  # a tenant's namespace defaults to its name
    if kind == "namespace":
        _edit_yaml(base / "tenant.yaml", lambda d: d["spec"].__setitem__("namespace", namespace))
        kind = f"{kind}, {CONTESTED}"
    elif kind == "reserved":
        ns = t.rng.choice(("kube-system", "default", "mlcp-system", "kube-public"))
        _edit_yaml(base / "tenant.yaml", lambda d: d["spec"].__setitem__("namespace", ns))
    elif kind == "name":
        _edit_yaml(base / "tenant.yaml", lambda d: d["metadata"].__setitem__("name", t.other))
    elif kind == "spec-tenant":
        _edit_yaml(base / "quota.yaml", lambda d: d["metadata"].__setitem__("tenant", t.other))
    elif kind == "duplicate":
        source = t.rng.choice(t.files())
        shutil.copy(source, source.with_name(f"copy-{source.name}"))
    elif kind == "model":
        promotions = sorted((other / "promotions").glob("*.yaml"))
        if promotions:
            (base / "promotions").mkdir(exist_ok=True)
            shutil.copy(promotions[0], base / "promotions" / "stolen.yaml")
    else:
        names = (f"{t.other}-evil", "default", "kube-system")
        misnamed = ("UPPER", "a" * 70, "-dash", "x.y")  # not a DNS label: a problem of the whole repo
        name = t.rng.choice(names + misnamed if t.anywhere else names)
        folder = t.root / "tenants" / name
        folder.mkdir(exist_ok=True)
        spec = yaml.safe_load((other / "tenant.yaml").read_text(encoding="utf-8"))
        spec["metadata"]["name"] = name
        if t.rng.random() < 0.5:
            spec["spec"]["namespace"] = namespace
            kind = f"{kind}, {CONTESTED}"
        (folder / "tenant.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    t.note(f"claim ({kind})")


def odd_names(t: Target) -> None:
    source = t.pick()
    name = t.rng.choice(
        ("with space.yaml", "ünïcödé.yaml", "x" * 200 + ".yaml", "-rf.yaml", "a\\b.yaml", ".hidden.yaml")
    )
    target = source.with_name(name)
    source.rename(target)
    t.note(f"renamed {source.name} to {name[:30]!r}")


FAMILIES: dict[str, Callable[[Target], None]] = {
    "mutate": mutate,
    "garbage": garbage,
    "huge": huge,
    "encoding": encoding,
    "symlink": symlink,
    "claims": claims,
    "names": odd_names,
}
WEIGHTS = {"mutate": 6, "garbage": 3, "huge": 1, "encoding": 2, "symlink": 2, "claims": 3, "names": 1}


def attack(root: Path, seed: int, victim: str, other: str, anywhere: bool = True) -> Case:
    """Apply one to three seeded attacks to the repo at `root` (tenant folders `victim` and `other` exist)."""
    rng = random.Random(seed)
    case = Case(seed)
    target = Target(root, victim, other, anywhere, rng, case)
    names = list(WEIGHTS)
    for family in rng.choices(names, weights=[WEIGHTS[n] for n in names], k=rng.randint(1, 3)):
        try:
            FAMILIES[family](target)
        except (
            OSError,
            yaml.YAMLError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            ValueError,
            RecursionError,
        ) as exc:
            target.note(f"{family}: not applicable here ({type(exc).__name__})")  # an earlier attack broke its input
    return case


def build(root: Path, seed: int, anywhere: bool = True) -> Case:
    """The template at `root` (a new folder) with seed `seed`'s attacks on tenant nlp (vision is the other)."""
    copy_template(root)
    return attack(root, seed, "nlp", "vision", anywhere)
