"""The `gateway` command line.

    gateway serve [--host H] [--port P] [--workers N] [--reload] [--demo]
    gateway demo                      seed demo data (once) and print a fresh demo key
    gateway migrate                   upgrade the database schema in place
    gateway rollups                   fold every stored event into the rollups now
    gateway pixels create --name N [--timezone TZ] [--currency C] [--json]
    gateway pixels list [--json]
    gateway keys create --name N --scope S [--scope S ...] [--pixel ID ...]
                        [--expires DATE] [--json]
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

Every command honours GATEWAY_DATABASE_URL (and the other GATEWAY_* settings).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway.cli import admin, imports, rollups, server
from gateway.settings import Settings, SettingsError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="Analytics GraphQL API gateway.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    serve.add_argument("--demo", action="store_true",
                       help="seed demo data on first start and print a demo key")
    serve.set_defaults(run=server.serve)

    demo = sub.add_parser("demo", help="seed demo data and print a demo key")
    demo.add_argument("--days", type=int, default=90)
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(run=server.demo)

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(run=admin.migrate)
    sub.add_parser("rollups", help="fold every stored event into the rollups now"
                   ).set_defaults(run=rollups.rollups)
    sub.add_parser("schema", help="print the GraphQL SDL").set_defaults(run=admin.print_schema)

    pixels = sub.add_parser("pixels", help="manage pixels").add_subparsers(dest="action",
                                                                           required=True)
    pc = pixels.add_parser("create")
    pc.add_argument("--name", required=True)
    pc.add_argument("--timezone", default="UTC")
    pc.add_argument("--currency", default="USD")
    pc.add_argument("--org", help="organization id (default: the first organization)")
    pc.add_argument("--json", action="store_true")
    pc.set_defaults(run=admin.create_pixel)
    pl = pixels.add_parser("list")
    pl.add_argument("--org")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(run=admin.list_pixels)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="action",
                                                                         required=True)
    kc = keys.add_parser("create")
    kc.add_argument("--name", required=True)
    kc.add_argument("--scope", action="append", required=True, dest="scopes")
    kc.add_argument("--pixel", action="append", dest="pixels",
                    help="restrict to this pixel (repeatable); default: every pixel")
    kc.add_argument("--expires", help="expiry date or datetime (ISO 8601, UTC if no offset)")
    kc.add_argument("--rate-tier", default="standard")
    kc.add_argument("--org")
    kc.add_argument("--json", action="store_true")
    kc.set_defaults(run=admin.create_key)
    kl = keys.add_parser("list")
    kl.add_argument("--org")
    kl.add_argument("--json", action="store_true")
    kl.set_defaults(run=admin.list_keys)
    for name, run, help_text in (("show", admin.show_key, "show one key"),
                                 ("rotate", admin.rotate_key, "new secret, same key"),
                                 ("revoke", admin.revoke_key, "revoke at once, for good")):
        one = keys.add_parser(name, help=help_text)
        one.add_argument("key_id")
        one.add_argument("--json", action="store_true")
        one.set_defaults(run=run)
    ku = keys.add_parser("update", help="change name, scopes, pixels, expiry or rate tier")
    ku.add_argument("key_id")
    ku.add_argument("--name")
    ku.add_argument("--scope", action="append", dest="scopes")
    pixels_group = ku.add_mutually_exclusive_group()
    pixels_group.add_argument("--pixel", action="append", dest="pixels")
    pixels_group.add_argument("--all-pixels", action="store_true")
    expiry_group = ku.add_mutually_exclusive_group()
    expiry_group.add_argument("--expires")
    expiry_group.add_argument("--no-expiry", action="store_true")
    ku.add_argument("--rate-tier")
    ku.add_argument("--json", action="store_true")
    ku.set_defaults(run=admin.update_key)

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action",
                                                                       required=True)
    uc = users.add_parser("create", help="add a user; password from stdin or prompted")
    uc.add_argument("--email", required=True)
    uc.add_argument("--role", required=True, choices=["owner", "admin", "member", "viewer"])
    uc.add_argument("--pixel", action="append", dest="pixels",
                    help="restrict to this pixel (repeatable); default: every pixel")
    uc.add_argument("--org")
    uc.add_argument("--json", action="store_true")
    uc.set_defaults(run=admin.create_user)
    ul = users.add_parser("list")
    ul.add_argument("--org")
    ul.add_argument("--json", action="store_true")
    ul.set_defaults(run=admin.list_users)

    imp = sub.add_parser("import", help="bulk-load events or ad spend from a file")
    kinds = imp.add_subparsers(dest="action", required=True)
    ie = kinds.add_parser("events", help="JSON Lines or CSV of events")
    ie.add_argument("file")
    ie.add_argument("--format", choices=["auto", "jsonl", "csv"], default="auto")
    isp = kinds.add_parser("spend", help="CSV: date, platform, campaign, spend, impressions, "
                           "clicks")
    isp.add_argument("file")
    for cmd, run in ((ie, imports.import_events), (isp, imports.import_spend)):
        cmd.add_argument("--pixel", help="target pixel id (default: the only pixel)")
        cmd.add_argument("--json", action="store_true", help="print the report as JSON")
        cmd.set_defaults(run=run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_environ(os.environ)
        if args.command == "serve" and args.workers > 1 and not args.reload:
            # Refused before anything starts: each worker would invent its own secret.
            settings.require_configured_secret(f"gateway serve --workers {args.workers}")
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
