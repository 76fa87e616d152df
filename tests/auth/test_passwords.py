"""argon2id cost: production defaults, the configured cost on new hashes, and stored hashes
verified with their own parameters (issue #11: the suite hashes cheaply, production does
not)."""

from __future__ import annotations

from dataclasses import replace

from gateway.auth.passwords import hash_password, verify_password
from gateway.settings import Settings

CHEAP = Settings(password_memory_kib=1024, password_passes=1, password_lanes=1)


def test_production_cost_is_rfc_9106s_second_recommendation() -> None:
    """The defaults stay 64 MiB, 3 passes, 4 lanes; only code (the tests) lowers them."""
    defaults = Settings()
    assert (defaults.password_memory_kib, defaults.password_passes,
            defaults.password_lanes) == (65536, 3, 4)
    environ = {"GATEWAY_PASSWORD_MEMORY_KIB": "8", "GATEWAY_PASSWORD_PASSES": "1"}
    assert Settings.from_environ(environ).password_memory_kib == 65536


async def test_new_hashes_carry_the_configured_cost() -> None:
    assert (await hash_password("correct horse battery", Settings())).startswith(
        "$argon2id$v=19$m=65536,t=3,p=4$")
    assert (await hash_password("correct horse battery", CHEAP)).startswith(
        "$argon2id$v=19$m=1024,t=1,p=1$")


async def test_a_stored_hash_verifies_under_any_configured_cost() -> None:
    """Lowering or raising the cost never locks a user out: a hash keeps its parameters."""
    stored = await hash_password("correct horse battery", CHEAP)
    stronger = replace(CHEAP, password_memory_kib=4096, password_passes=2)
    assert await verify_password("correct horse battery", stored, stronger)
    assert not await verify_password("not the password", stored, stronger)
    assert not await verify_password("correct horse battery", None, CHEAP)
