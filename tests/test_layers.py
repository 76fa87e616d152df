"""Layer rules, checked on the source: what each layer may import (issue #11).

- `gateway/rest/` is an adapter: it imports nothing from services, storage or the engine, so
  a REST surface cannot skip the resolver (and the service's checks behind it).
- GraphQL types (`gateway/types/`) and the dataloaders import types, not services' functions
  or the engine: a type is built from what a resolver or service hands it, and a loader reads
  through the service functions that take the principal.

Every `import` counts, wherever it stands (module level, inside a function). An import under
`if TYPE_CHECKING:` names types for annotations only and never runs; in `gateway/types` it may
name classes of a service module (its result types, for `from_*` signatures), nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, package: list[str] | None = None) -> list[tuple[str, list[str], bool]]:
    """(module, names, type_checking_only) for every import in the file (`package`: the
    file's package, for relative imports; by default from its place under ROOT)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                guarded.update(id(n) for n in ast.walk(inner))
    if package is None:
        package = _module_of(path).split(".")
        if path.name != "__init__.py":
            package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, [], id(node) in guarded) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.append((module, [a.name for a in node.names], id(node) in guarded))
    return found


def _files(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    return files


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


BEHAVIOUR = ("gateway.services", "gateway.storage", "gateway.engine")


@pytest.mark.parametrize("path", _files("gateway/rest"), ids=lambda p: p.name)
def test_rest_imports_nothing_from_services_storage_or_engine(path: Path) -> None:
    """REST imports nothing from services, storage or the engine, not even under
    TYPE_CHECKING (issue #11): a route calls a resolver, whose service checks first."""
    bad = [m for m, _, _ in _imports(path) if _within(m, BEHAVIOUR)]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", _files("gateway/types"), ids=lambda p: p.name)
def test_graphql_types_import_types_not_services_or_engine(path: Path) -> None:
    """GraphQL types import types, not services or the engine (issue #11): at run time
    nothing from either; for annotations only (TYPE_CHECKING) a service's result classes."""
    bad = []
    for module, names, type_only in _imports(path):
        if not _within(module, ("gateway.services", "gateway.engine")):
            continue
        if not type_only or not all(n[:1].isupper() for n in names):
            bad.append((module, names))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", _files("dataloaders"), ids=lambda p: p.name)
def test_dataloaders_read_through_services(path: Path) -> None:
    """Dataloaders read through service functions that take the principal, never storage
    directly, so no unchecked row reaches a GraphQL type (issue #11)."""
    bad = [m for m, names, type_only in _imports(path)
           if _within(m, ("gateway.storage", "gateway.engine"))
           and not (type_only or (m == "gateway.storage" and names == ["Database"]))]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The check can fail: relative, function-level and guarded imports are all found."""
    sample = tmp_path / "probe.py"
    sample.write_text("from typing import TYPE_CHECKING\n"
                      "from ..services import alerts\n"
                      "def f():\n    import gateway.engine.run\n"
                      "if TYPE_CHECKING:\n    from gateway.storage.models import PixelRow\n")
    found = {(m, t) for m, _, t in _imports(sample, ["gateway", "rest"])}
    assert {("gateway.services", False), ("gateway.engine.run", False),
            ("gateway.storage.models", True)} <= found
