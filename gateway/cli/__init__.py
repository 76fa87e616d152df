"""The `gateway` command line.

    gateway serve [--host H] [--port P] [--workers N] [--reload] [--demo [--days N]]
    gateway demo [--days N] [--json]  seed demo data (once) and print a fresh demo key
    gateway migrate                   upgrade the database schema in place
    gateway rollups                   fold every stored event into the rollups now
    gateway pixels create --name N [--timezone TZ] [--currency C] [--json]
    gateway pixels list [--json]
    gateway keys create --name N --scope S [--scope S ...] [--pixel ID ...]
                        [--expires DATE] [--rate-tier standard|premium|enterprise] [--json]
    gateway keys list [--json]
    gateway keys show|rotate|revoke ID [--json]
    gateway keys update ID [--name N] [--scope S ...] [--pixel ID ... | --all-pixels]
                           [--expires DATE | --no-expiry] [--rate-tier T] [--json]
    gateway users create --email E --role R [--pixel ID ...] [--json]
                                      password from stdin, else prompted
    gateway users list [--json]
    gateway schema                    print the GraphQL SDL
    gateway import events FILE [--pixel ID] [--format auto|jsonl|csv] [--json]
    gateway import spend FILE [--pixel ID] [--json]
    gateway client …                  the HTTP API from a terminal (gateway/cli/client.py)

Every command but `client` honours GATEWAY_DATABASE_URL (and the other GATEWAY_* settings);
`client` talks to a running gateway over HTTP and never opens a database. Every flag has
help text, with its default (`gateway COMMAND --help`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from gateway.auth.tiers import DEFAULT_TIER, RATE_TIERS
from gateway.cli import admin, imports, rollups, server
from gateway.cli.client import add_client_parser, run_client
from gateway.settings import Settings, SettingsError

__all__ = ["main"]


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help shows its default (argparse adds "(default: …)" where there is
    one), and descriptions keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "(default" in text:
            return text
        return super()._get_help_string(action)


def _sub(parent: Any, name: str, text: str) -> argparse.ArgumentParser:
    made: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text,
                                                      formatter_class=_Formatter)
    return made


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _org_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--org", metavar="ID",
                   help="organization id (default: the first organization)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="Analytics GraphQL API gateway.",
                                formatter_class=_Formatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _sub(sub, "serve", "run the gateway (uvicorn)")
    serve.add_argument("--host", help="address to listen on (default: GATEWAY_HOST, else "
                       "127.0.0.1)")
    serve.add_argument("--port", type=int,
                       help="port to listen on (default: GATEWAY_PORT, else 8000)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (metrics are summed over them)")
    serve.add_argument("--reload", action="store_true",
                       help="restart on code changes (development; one worker)")
    serve.add_argument("--demo", action="store_true",
                       help="seed demo data on first start, print a fresh demo key (the "
                       "previous one is revoked) and the lines to paste")
    serve.add_argument("--days", type=int, default=90, help="days of demo data (with --demo)")
    serve.set_defaults(run=server.serve)

    demo = _sub(sub, "demo", "seed demo data once and print a fresh demo key (the previous "
                "demo key is revoked)")
    demo.add_argument("--days", type=int, default=90, help="days of demo data")
    _json_flag(demo)
    demo.set_defaults(run=server.demo)

    _sub(sub, "migrate", "upgrade the database schema in place").set_defaults(run=admin.migrate)
    _sub(sub, "rollups", "fold every stored event into the rollups now"
         ).set_defaults(run=rollups.rollups)
    _sub(sub, "schema", "print the GraphQL SDL").set_defaults(run=admin.print_schema)

    pixels = _sub(sub, "pixels", "manage pixels (tracked sites and apps)").add_subparsers(
        dest="action", required=True, metavar="COMMAND")
    pc = _sub(pixels, "create", "add a pixel")
    pc.add_argument("--name", required=True, help="the pixel's name (a site or app)")
    pc.add_argument("--timezone", default="UTC", help="IANA time zone of its days")
    pc.add_argument("--currency", default="USD", help="ISO 4217 currency of its amounts")
    _org_flag(pc)
    _json_flag(pc)
    pc.set_defaults(run=admin.create_pixel)
    pl = _sub(pixels, "list", "list pixels")
    _org_flag(pl)
    _json_flag(pl)
    pl.set_defaults(run=admin.list_pixels)

    keys = _sub(sub, "keys", "manage API keys").add_subparsers(dest="action", required=True,
                                                               metavar="COMMAND")
    kc = _sub(keys, "create", "mint an API key (the secret is printed once)")
    kc.add_argument("--name", required=True, help="a name to recognise the key by")
    kc.add_argument("--scope", action="append", required=True, dest="scopes", metavar="SCOPE",
                    help="a scope it grants, e.g. analytics:read (repeatable)")
    kc.add_argument("--pixel", action="append", dest="pixels", metavar="ID",
                    help="restrict to this pixel (repeatable) (default: every pixel)")
    kc.add_argument("--expires", metavar="WHEN",
                    help="expiry date or datetime (ISO 8601, UTC if no offset) (default: never)")
    kc.add_argument("--rate-tier", default=DEFAULT_TIER, choices=RATE_TIERS,
                    help="what each surface's rate limit is multiplied by (GATEWAY_RATE_TIERS)"
                         f" (default: {DEFAULT_TIER})")
    _org_flag(kc)
    _json_flag(kc)
    kc.set_defaults(run=admin.create_key)
    kl = _sub(keys, "list", "list API keys (prefix and start only, never secrets)")
    _org_flag(kl)
    _json_flag(kl)
    kl.set_defaults(run=admin.list_keys)
    for name, run, help_text in (("show", admin.show_key, "show one key"),
                                 ("rotate", admin.rotate_key,
                                  "a new secret for the key; the old one stops at once"),
                                 ("revoke", admin.revoke_key, "revoke at once, for good")):
        one = _sub(keys, name, help_text)
        one.add_argument("key_id", metavar="ID", help="the key's id")
        _json_flag(one)
        one.set_defaults(run=run)
    ku = _sub(keys, "update", "change name, scopes, pixels, expiry or rate tier")
    ku.add_argument("key_id", metavar="ID", help="the key's id")
    ku.add_argument("--name", help="new name")
    ku.add_argument("--scope", action="append", dest="scopes", metavar="SCOPE",
                    help="replace the scopes (repeatable)")
    pixels_group = ku.add_mutually_exclusive_group()
    pixels_group.add_argument("--pixel", action="append", dest="pixels", metavar="ID",
                              help="restrict to these pixels (repeatable)")
    pixels_group.add_argument("--all-pixels", action="store_true",
                              help="lift the pixel restriction")
    expiry_group = ku.add_mutually_exclusive_group()
    expiry_group.add_argument("--expires", metavar="WHEN", help="new expiry (ISO 8601)")
    expiry_group.add_argument("--no-expiry", action="store_true", help="never expire")
    ku.add_argument("--rate-tier", choices=RATE_TIERS,
                    help="new rate-limit tier (default: unchanged)")
    _json_flag(ku)
    ku.set_defaults(run=admin.update_key)

    users = _sub(sub, "users", "manage users of browser apps").add_subparsers(
        dest="action", required=True, metavar="COMMAND")
    uc = _sub(users, "create", "add a user; the password is read from stdin, or prompted")
    uc.add_argument("--email", required=True, help="the user's email (their login)")
    uc.add_argument("--role", required=True, choices=["owner", "admin", "member", "viewer"],
                    help="what the user may do")
    uc.add_argument("--pixel", action="append", dest="pixels", metavar="ID",
                    help="restrict to this pixel (repeatable) (default: every pixel)")
    _org_flag(uc)
    _json_flag(uc)
    uc.set_defaults(run=admin.create_user)
    ul = _sub(users, "list", "list users")
    _org_flag(ul)
    _json_flag(ul)
    ul.set_defaults(run=admin.list_users)

    imp = _sub(sub, "import", "bulk-load events or ad spend from a file")
    kinds = imp.add_subparsers(dest="action", required=True, metavar="COMMAND")
    ie = _sub(kinds, "events", "JSON Lines or CSV of events")
    ie.add_argument("file", help="the file to load")
    ie.add_argument("--format", choices=["auto", "jsonl", "csv"], default="auto",
                    help="file format (auto: by extension, then content)")
    isp = _sub(kinds, "spend", "CSV: date, platform, campaign, spend, impressions, clicks")
    isp.add_argument("file", help="the CSV file to load")
    for cmd, run in ((ie, imports.import_events), (isp, imports.import_spend)):
        cmd.add_argument("--pixel", metavar="ID",
                         help="target pixel id (default: the only pixel)")
        cmd.add_argument("--json", action="store_true", help="print the report as JSON")
        cmd.set_defaults(run=run)

    add_client_parser(sub, _Formatter)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "client", False):  # HTTP only: no database, no server secret
        return run_client(dict(os.environ), args)
    try:
        settings = Settings.from_environ(os.environ)
        if args.command != "schema":
            settings = settings.with_secret()  # keys minted here must verify in the server
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(settings, args) or 0)
    except admin.CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
