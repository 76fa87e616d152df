"""The scope table (gateway/auth/scopes.py): one row per scope, implications closed."""

from __future__ import annotations

import ast
from pathlib import Path

from gateway.auth.scopes import ALIASES, SCOPES, expand_scopes


def test_scope_table_has_no_repeated_rows() -> None:
    """A repeated key silently overrides the first row (a merge left one once)."""
    source = Path(__file__).resolve().parent.parent / "gateway" / "auth" / "scopes.py"
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") in {"SCOPES",
                                                                                  "ALIASES"}:
            assert isinstance(node.value, ast.Dict)
            keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
            assert len(keys) == len(set(keys)), node.target.id  # type: ignore[attr-defined]  # an AnnAssign target named SCOPES/ALIASES is an ast.Name


def test_implications_and_aliases_name_canonical_scopes() -> None:
    for _, implied in SCOPES.values():
        assert implied <= set(SCOPES)
    for targets in ALIASES.values():
        assert targets <= set(SCOPES)
    assert expand_scopes(["users:admin"]) == {"users:admin", "audit:read"}
    assert expand_scopes(["db_query"]) == {"analytics:read"}
