"""An import-linter contract that finds the backends by their module names, so a new backend is one file.

A backend is one module under `reconciler/backends/` (its helpers named after
it: `kubernetes_client`, `mlflow_rest`), and the registry finds it by a package
scan. The contracts that kept backends apart used to list every module by name:
a new backend had to be added to the package's layers, to each independence
contract, and to the list the engine, the pass and apply must not import, and a
backend left out of the last two was silently covered by neither. This contract
derives the groups from the package instead: every module of `package` is one
of `shared` (the Protocol, the registry, the deadline) or belongs to the backend
its name starts with (the part before the first `_`), and that backend's own
module must exist (a helper named after no backend is refused). Then:

- no backend imports another backend's modules, directly or through others;
- no shared module imports a backend's (the backends sit above them);
- the `consumers` (the engine, the pass, apply) import no backend module directly but the `transports`: the
  client the loop keeps its own records with on its home cluster (`kubernetes_client`), which is no backend.

Development tooling, not the product: `make lint` loads it (`contract_types` in
pyproject.toml), and the wheel never ships devenv.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


@dataclass(frozen=True)
class Breach:
    """One import the contract forbids: the chain from `importer` to `imported` and why it is refused."""

    rule: str
    chain: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule}: {' -> '.join(self.chain)}"


def backend_of(module: str, package: str) -> str:
    """The backend a module of `package` belongs to: its name up to the first `_`."""
    return module.removeprefix(f"{package}.").split("_", 1)[0]


class BackendsContract(Contract):
    """Backends apart from each other, above the shared modules, and unnamed by `consumers`."""

    type_name = "backends"

    package = fields.StringField()
    shared = fields.SetField(subfield=fields.StringField())
    consumers = fields.SetField(subfield=fields.StringField())
    transports = fields.SetField(subfield=fields.StringField(), required=False, default=set())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        groups = self.groups(graph)
        output.verbose_print(verbose, f"Backends of {self.package}: {', '.join(sorted(groups))}")
        breaches = sorted(self._breaches(graph, groups), key=str)
        return ContractCheck(kept=not breaches, metadata={"breaches": [str(b) for b in breaches]})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for breach in check.metadata["breaches"]:
            output.print_error(f"- {breach}", bold=False)
        output.new_line()

    def groups(self, graph: ImportGraph) -> dict[str, set[str]]:
        """Each backend's modules, by backend name; the shared modules are no backend's."""
        package = str(self.package)
        shared = {f"{package}.{name}" for name in self._names(self.shared)}
        found: dict[str, set[str]] = {}
        for module in graph.find_children(package):
            if module not in shared:
                found.setdefault(backend_of(module, package), set()).add(module)
        return found

    def _breaches(self, graph: ImportGraph, groups: dict[str, set[str]]) -> Iterator[Breach]:
        package = str(self.package)
        for name, modules in groups.items():
            if f"{package}.{name}" not in modules:
                for module in sorted(modules):
                    yield Breach(f"named after no backend (there is no {package}.{name})", (module,))
        for name, modules in groups.items():
            others = [m for other, members in groups.items() if other != name for m in members]
            for module in modules:
                for foreign in others:
                    chain = graph.find_shortest_chain(importer=module, imported=foreign)
                    if chain:
                        yield Breach(f"backend {name} imports another backend", tuple(chain))
        every = sorted(m for members in groups.values() for m in members)
        for shared in self._names(self.shared):
            for module in every:
                chain = graph.find_shortest_chain(importer=f"{package}.{shared}", imported=module)
                if chain:
                    yield Breach("a shared module imports a backend", tuple(chain))
        transports = {f"{package}.{name}" for name in self._names(self.transports)}
        for consumer in self._names(self.consumers):
            for module in every:
                if module in transports:
                    continue
                if graph.direct_import_exists(importer=consumer, imported=module):
                    yield Breach(f"{consumer} names a concrete backend", (consumer, module))

    @staticmethod
    def _names(value: Any) -> list[str]:
        return sorted(str(v) for v in value)
