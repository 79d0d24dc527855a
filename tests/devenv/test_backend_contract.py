"""The backends contract finds a new backend by its file alone and holds it to every rule the old lists did.

Written as the one who adds a backend without touching pyproject.toml would meet it: the new module is
covered (apart from the others, above the shared modules, unnamed by the engine), with no list naming it.
"""

from __future__ import annotations

import grimp

from devenv.backend_contract import BackendsContract, backend_of

PACKAGE = "reconciler.backends"
MODULES = ["base", "deadline", "registry", "kubernetes", "kubernetes_client", "mlflow", "mlflow_rest"]


def _contract() -> BackendsContract:
    options = {
        "package": PACKAGE,
        "shared": ["base", "deadline", "registry"],
        "consumers": ["reconciler.engine", "reconciler.passes"],
        "transports": ["kubernetes_client"],
    }
    return BackendsContract("backends", {}, options)


def _graph(*extra: str) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in ("reconciler", PACKAGE, "reconciler.engine", "reconciler.passes"):
        graph.add_module(module)
    for name in (*MODULES, *extra):
        graph.add_module(f"{PACKAGE}.{name}")
    _imports(graph, ("kubernetes", "kubernetes_client"), ("kubernetes", "base"), ("mlflow", "mlflow_rest"))
    _imports(graph, ("mlflow", "base"), ("registry", "base"))
    graph.add_import(importer="reconciler.engine", imported=f"{PACKAGE}.registry")
    graph.add_import(importer="reconciler.passes", imported=f"{PACKAGE}.kubernetes_client")  # its home records
    return graph


def _imports(graph: grimp.ImportGraph, *pairs: tuple[str, str]) -> None:
    for importer, imported in pairs:
        graph.add_import(importer=f"{PACKAGE}.{importer}", imported=f"{PACKAGE}.{imported}")


def _breaches(graph: grimp.ImportGraph) -> list[str]:
    check = _contract().check(graph, verbose=False)
    breaches: list[str] = check.metadata["breaches"]
    assert check.kept == (not breaches)
    return breaches


def test_the_shipped_shape_is_kept_and_each_module_goes_to_the_backend_it_is_named_after() -> None:
    assert _breaches(_graph()) == []
    assert backend_of(f"{PACKAGE}.kubernetes_client", PACKAGE) == "kubernetes"
    assert _contract().groups(_graph("vault"))["vault"] == {f"{PACKAGE}.vault"}


def test_a_new_backend_in_one_file_may_use_the_shared_modules() -> None:
    graph = _graph("vault")
    _imports(graph, ("vault", "base"), ("vault", "registry"), ("vault", "deadline"))
    assert _breaches(graph) == []


def test_a_new_backend_that_imports_another_backend_is_refused_directly_or_through_a_helper() -> None:
    graph = _graph("vault", "vault_rest")
    _imports(graph, ("vault", "vault_rest"), ("vault_rest", "mlflow_rest"))
    breaches = _breaches(graph)
    assert any("backend vault imports another backend" in b and b.endswith("mlflow_rest") for b in breaches)
    assert len([b for b in breaches if "vault_rest -> reconciler.backends.mlflow_rest" in b]) == 2  # both modules


def test_an_existing_backend_may_not_import_the_new_one() -> None:
    graph = _graph("vault")
    _imports(graph, ("kubernetes_client", "vault"))
    assert _breaches(graph) == [
        f"backend kubernetes imports another backend: {PACKAGE}.kubernetes -> {PACKAGE}.kubernetes_client -> "
        f"{PACKAGE}.vault",
        f"backend kubernetes imports another backend: {PACKAGE}.kubernetes_client -> {PACKAGE}.vault",
    ]


def test_the_engine_may_not_name_the_new_backend_nor_a_shared_module_import_it() -> None:
    graph = _graph("vault")
    graph.add_import(importer="reconciler.engine", imported=f"{PACKAGE}.vault")
    _imports(graph, ("registry", "vault"))
    assert _breaches(graph) == [
        f"a shared module imports a backend: {PACKAGE}.registry -> {PACKAGE}.vault",
        f"reconciler.engine names a concrete backend: reconciler.engine -> {PACKAGE}.vault",
    ]


def test_the_transport_is_the_consumers_only_exception() -> None:
    graph = _graph()
    graph.add_import(importer="reconciler.passes", imported=f"{PACKAGE}.mlflow_rest")
    named = f"reconciler.passes names a concrete backend: reconciler.passes -> {PACKAGE}.mlflow_rest"
    assert _breaches(graph) == [named]


def test_a_helper_named_after_no_backend_is_refused() -> None:
    assert _breaches(_graph("vault_rest")) == [
        f"named after no backend (there is no {PACKAGE}.vault): {PACKAGE}.vault_rest"
    ]
