"""`schema.graphql` is generated from the code; this fails when it drifts (issue #2).
Regenerate with: gateway schema > schema.graphql"""

from __future__ import annotations

from pathlib import Path

from gateway.schema import export_sdl

ROOT = Path(__file__).resolve().parent.parent


def test_committed_sdl_matches_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), (
        "schema.graphql is stale: run `gateway schema > schema.graphql`")


def test_federation_entities_declared() -> None:
    sdl = export_sdl()
    assert 'type Measure @key(fields: "key")' in sdl
    assert "federation/v2" in sdl
