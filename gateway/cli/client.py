"""`gateway client …`: the gateway's HTTP API from a terminal (issue #17).

    gateway client configure [--url U] [--key K] [--pixel P]      write the config file
    gateway client measures [--search TEXT] [--category C]
    gateway client query --measure M [--measure M …] (--from D --to D | --range PRESET)
                         [--granularity G] [--dimension D …] [--filter JSON]
                         [--timezone TZ] [--limit N] [--no-compare] [--file q.json]
    gateway client views create --name N --measure M [--measure M …] [--title T …]
                                [--chart-type C …] [--granularity G] [--range PRESET]
    gateway client views list [--type T]
    gateway client views show ID

Every command takes `--format table|json|csv` (default table) and the connection flags
`--url`, `--key`, `--pixel`, `--config` (gateway/cli/client_config.py says where they are
looked for otherwise). It speaks only HTTP, to the Upstack REST routes (`x-api-key`,
`x-pixel-id`), so it works against any gateway it can reach, and never opens a database.
`query` and `views create` take measures by key or by title (`"NC ROAS"`): `query` looks
titles up in the catalog, `views create` leaves that to the server, which does the same.
`--file` is a request body (the JSON `query --format json` would send); flags given with
it replace its fields.

Exit status: 0; 1 when the gateway refused or could not be reached (its message printed);
2 for a usage or configuration problem.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from gateway import __version__
from gateway.cli.client_config import (
    ClientConfig,
    ConfigError,
    default_config_path,
    load_config,
    save_config,
)
from gateway.cli.client_output import emit_csv, emit_json, format_number, sparkline, table
from gateway.settings import ClientEnvironment

__all__ = ["ClientError", "add_client_parser", "run_client"]

MEASURES = "/db-mgmt/api/measures"
QUERY = "/db-mgmt/api/query"
VIEWS = "/accounts/api/dashboard/views"
FORMATS = ("table", "json", "csv")
# Body fields the server names in its errors -> the flag that set them (not with --file).
_FLAG_OF = {"measures": "--measure", "dateRange": "--from/--to/--range",
            "granularity": "--granularity", "dimensions": "--dimension",
            "filters": "--filter", "timezone": "--timezone", "limit": "--limit",
            "name": "--name", "widgets": "--measure", "chartTypes": "--chart-type",
            "type": "--type"}


class ClientError(Exception):
    """The gateway refused, or could not be reached: `error: …`, exit status 1."""


class Api:
    """The HTTP calls, with the gateway's error bodies turned into ClientError."""

    def __init__(self, config: ClientConfig, timeout: float, *, flags: bool = True) -> None:
        headers = {"x-api-key": config.key, "user-agent": f"gateway-client/{__version__}"}
        if config.pixel:
            headers["x-pixel-id"] = config.pixel
        self.config = config
        self.flags = flags  # name flags, not body fields, in field errors
        self._http = httpx.Client(base_url=config.url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ClientError(f"cannot reach the gateway at {self.config.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ClientError(self._problem(response))
        return response.json()

    def _problem(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        lines = [f"{message or response.reason_phrase} (HTTP {response.status_code})"]
        for e in body.get("errors") or [] if isinstance(body, dict) else []:
            key = str(e.get("key", ""))
            head = key.split(".", 1)[0]
            where = _FLAG_OF.get(head, key) if self.flags else key
            lines.append(f"  {where}: {e.get('message')}")
        if response.status_code == 401:
            lines.append(f"  (the key came from {self.config.source})")
        return "\n".join(lines)

    def close(self) -> None:
        self._http.close()


def _measures(api: Api, args: argparse.Namespace, out: Console) -> None:
    params = {k: v for k, v in (("search", args.search), ("category", args.category)) if v}
    found = api.call("GET", MEASURES, params=params)["measures"]
    if args.format == "json":
        emit_json(out, found)
        return
    columns = ["key", "title", "format", "category"]
    rows = [[m["key"], m["title"], m["format"], m["category"]] for m in found]
    if args.format == "csv":
        emit_csv(out, columns, rows)
    else:
        table(out, columns, rows)
        out.print(f"{len(found)} measures" + (f" matching {args.search!r}" if args.search
                                                else ""))


def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _date_range(args: argparse.Namespace) -> dict[str, str] | None:
    if args.range and (args.date_from or args.date_to):
        raise ConfigError("give --range or --from/--to, not both")
    if args.range:
        return {"preset": args.range}
    if bool(args.date_from) != bool(args.date_to):
        raise ConfigError("--from and --to go together (inclusive dates, YYYY-MM-DD)")
    return {"start": args.date_from, "end": args.date_to} if args.date_from else None


def _resolve_titles(api: Api, measures: list[str]) -> list[str]:
    """Measures given by title ("NC ROAS") as catalog keys; keys and unknowns unchanged."""
    if all("." in m and " " not in m for m in measures):
        return measures
    catalog = api.call("GET", MEASURES)["measures"]
    by_name: dict[str, str] = {}
    for m in catalog:
        for name in (m["title"], *(m.get("synonyms") or ())):
            by_name.setdefault(name.casefold(), m["key"])
    keys = {m["key"] for m in catalog}
    return [m if m in keys else by_name.get(m.casefold(), m) for m in measures]


def _query_body(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.file:
        try:
            loaded = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--file {args.file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"--file {args.file}: a JSON object (a query body) is expected")
        body.update(loaded)
    measures = _split(args.measures)
    if measures:
        body["measures"] = _resolve_titles(api, measures)
    found = _date_range(args)
    if found:
        body["dateRange"] = found
    if args.filter:
        try:
            body["filters"] = json.loads(args.filter)
        except ValueError as exc:
            raise ConfigError(f"--filter: not JSON: {exc}") from exc
    body.update({key: value for key, value in (("granularity", args.granularity),
                                                ("timezone", args.timezone),
                                                ("limit", args.limit)) if value is not None})
    if args.dimensions:
        body["dimensions"] = _split(args.dimensions)
    if args.no_compare:
        body["compare"] = False
    if not body.get("measures"):
        raise ConfigError("give at least one --measure (a key such as core.revenue, or a "
                          "title; `gateway client measures` lists them)")
    if not body.get("dateRange"):
        raise ConfigError("give --from and --to (YYYY-MM-DD), or --range (last_30_days, …)")
    return body


def _query(api: Api, args: argparse.Namespace, out: Console) -> None:
    api.flags = not args.file
    answer = api.call("POST", QUERY, json=_query_body(api, args))
    if args.format == "json":
        emit_json(out, answer)
        return
    result = answer["results"][0]
    dims: list[str] = result["dimensions"]
    measures = [d["measure"] for d in result["measureDetails"]]
    primary: list[dict[str, Any]] = result["data"]["primary"]
    columns = ["dt", *dims, *measures]
    rows = [[p.get(c) for c in columns] for p in primary]
    if args.format == "csv":
        emit_csv(out, columns, rows)
        return
    span = result["dateRange"]
    title = (f"{span['start']} – {span['end']}, by {result['granularity']}"
             f" ({result['timezone']})")
    _summary(out, result, title)
    table(out, columns, rows, numeric=measures)


def _summary(out: Console, result: dict[str, Any], title: str) -> None:
    """Per measure: the period's total, the change on the compare period and, where the
    series fits the terminal, its sparkline (one series: none when grouped by dimensions)."""
    details = result["measureDetails"]
    primary = result["data"]["primary"]
    grouped = bool(result["dimensions"])
    label = max([len("measure"), *(len(d["measure"]) for d in details)])
    room = out.width - label - 16 - 10 - 9  # the other columns and their padding
    rows = []
    for d in details:
        change = d.get("percentDiff")
        series = [] if grouped else [p.get(d["measure"]) for p in primary]
        rows.append([d["measure"], format_number(d.get("primaryTotal")),
                     "" if change is None else f"{change:+.1f} %", sparkline(series, room)])
    table(out, ["measure", "total", "vs prior", "trend"], rows, title=title,
          numeric=["total", "vs prior"])


def _views_create(api: Api, args: argparse.Namespace, out: Console) -> None:
    measures = _split(args.measures)
    titles = list(args.titles or ())
    if len(titles) > len(measures):
        raise ConfigError(f"{len(titles)} --title for {len(measures)} --measure")
    widgets = [{"measure": m, **({"title": titles[i]} if i < len(titles) else {})}
               for i, m in enumerate(measures)]
    body: dict[str, Any] = {"name": args.name, "widgets": widgets}
    if args.chart_types:
        body["chartTypes"] = list(args.chart_types)
    if args.granularity:
        body["granularity"] = args.granularity
    found = _date_range(args)
    if found:
        body["dateRange"] = found
    _show_view(api.call("POST", f"{VIEWS}/from-preset", json=body), args.format, out,
               created=True)


def _views_list(api: Api, args: argparse.Namespace, out: Console) -> None:
    params = {"type": args.type} if args.type else {}
    views = api.call("GET", VIEWS, params=params)["views"]
    if args.format == "json":
        emit_json(out, views)
        return
    columns = ["id", "name", "type", "widgets"]
    rows = [[v["id"], v["name"], v["type"], len(v["configuration"].get("widgets") or [])]
            for v in views]
    if args.format == "csv":
        emit_csv(out, columns, rows)
    else:
        table(out, columns, rows, numeric=["widgets"])


def _views_show(api: Api, args: argparse.Namespace, out: Console) -> None:
    _show_view(api.call("GET", f"{VIEWS}/{args.view_id}"), args.format, out)


def _show_view(view: dict[str, Any], fmt: str, out: Console, *, created: bool = False) -> None:
    if fmt == "json":
        emit_json(out, view)
        return
    widgets = view["configuration"].get("widgets") or []
    columns = ["title", "measures", "chart", "x", "y", "columns", "rows"]
    rows = [[w.get("title", ""), ", ".join(w.get("dataConfig", {}).get("measures") or []),
             w.get("chartType", ""), *(w.get("layout", {}).get(k) for k in
                                       ("x", "y", "columns", "rows"))] for w in widgets]
    if fmt == "csv":
        emit_csv(out, columns, rows)
        return
    span = view["configuration"].get("dateRange") or {}
    when = span.get("preset") or f"{span.get('start', '?')} – {span.get('end', '?')}"
    out.print(f"{'created' if created else 'view'} {view['id']}: {view['name']} "
              f"({view['type']}, version {view['version']}, {when})", soft_wrap=True)
    table(out, columns, rows, numeric=["x", "y", "columns", "rows"])


def _configure(env: ClientEnvironment, args: argparse.Namespace, out: Console) -> int:
    path = Path(args.config).expanduser() if args.config else default_config_path(env)
    if path is None:
        raise ConfigError("no home directory: give --config PATH")
    url = args.url or env.url
    key = args.key or env.key
    if not key:
        key = (getpass.getpass("API key: ") if sys.stdin.isatty()
               else sys.stdin.readline().strip())
    if not url or not key:
        raise ConfigError("give --url and --key (or set GATEWAY_URL and KEY)")
    save_config(path, {"url": url, "key": key, "pixel": args.pixel or env.pixel})
    out.print(f"wrote {path} (mode 0600)", soft_wrap=True)
    return 0


Command = Callable[[Api, argparse.Namespace, Console], None]


def run_client(environ: dict[str, str], args: argparse.Namespace) -> int:
    """Run one `gateway client` command; its exit status (module docstring)."""
    env = ClientEnvironment.from_environ(environ)
    out = Console(soft_wrap=False)
    err = Console(stderr=True, soft_wrap=True)
    try:
        if args.action == "configure":
            return _configure(env, args, out)
        config = load_config(env, url=args.url, key=args.key, pixel=args.pixel,
                             config=args.config)
        api = Api(config, args.timeout)
        try:
            run: Command = args.run
            run(api, args, out)
        finally:
            api.close()
    except ConfigError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    except ClientError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    return 0


def _common(p: argparse.ArgumentParser, *, output: bool = True) -> None:
    g = p.add_argument_group("connection (default: environment, then the config file)")
    g.add_argument("--url", help="the gateway's base URL (GATEWAY_URL)")
    g.add_argument("--key", help="API key (GATEWAY_KEY or KEY); prefer the environment: a "
                   "flag lands in the shell history")
    g.add_argument("--pixel", help="pixel id (GATEWAY_PIXEL or PIXEL); optional when the key "
                   "reaches one pixel")
    g.add_argument("--config", metavar="PATH",
                   help="config file (default: ~/.config/gateway/client.toml)")
    g.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    if output:
        p.add_argument("--format", choices=FORMATS, default="table", help="output format")


def _ranges(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", metavar="DATE",
                   help="first day, inclusive (YYYY-MM-DD); with --to")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day, inclusive")
    p.add_argument("--range", metavar="PRESET",
                   help="a preset instead of --from/--to: last_7_days, last_30_days, "
                   "this_month, …")


def add_client_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add `client` and its subcommands to the `gateway` parser's subparsers."""
    def add(parent: Any, name: str, text: str, run: Command | None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text,
                                                       formatter_class=formatter)
        p.set_defaults(run=run)
        return p

    client = sub.add_parser("client", help="call a running gateway over HTTP",
                            description="Call a running gateway over HTTP (Upstack REST "
                            "routes), with credentials from flags, the environment or "
                            "~/.config/gateway/client.toml.", formatter_class=formatter)
    client.set_defaults(client=True)
    commands = client.add_subparsers(dest="action", required=True, metavar="COMMAND")

    conf = add(commands, "configure", "write the config file (mode 0600)", None)
    _common(conf, output=False)

    m = add(commands, "measures", "list the measures catalog", _measures)
    m.add_argument("--search", metavar="TEXT",
                   help="keep measures whose key, title, synonym or description has TEXT")
    m.add_argument("--category", help="keep one category (core, web, meta, google, …)")
    _common(m)

    q = add(commands, "query", "run an analytics query", _query)
    q.add_argument("--measure", action="append", dest="measures", metavar="MEASURE",
                   help="a key or a title (repeatable, or comma-separated)")
    _ranges(q)
    q.add_argument("--granularity", help="none, hour, day, week, month, quarter, year "
                   "(server default: day)")
    q.add_argument("--dimension", action="append", dest="dimensions", metavar="FIELD",
                   help="group by this field (repeatable; `filters` lists them)")
    q.add_argument("--filter", metavar="JSON",
                   help='a filter, e.g. \'{"field": "country", "op": "in", "value": ["US"]}\'')
    q.add_argument("--timezone", metavar="TZ", help="IANA zone (default: the pixel's)")
    q.add_argument("--limit", type=int, help="keep the top N groups")
    q.add_argument("--no-compare", action="store_true",
                   help="skip the comparison with the preceding period")
    q.add_argument("--file", metavar="PATH",
                   help="a JSON query body; the flags given replace its fields")
    _common(q)

    views = commands.add_parser("views", help="dashboard views", description="dashboard views",
                                formatter_class=formatter)
    vs = views.add_subparsers(dest="views_action", required=True, metavar="COMMAND")
    vc = add(vs, "create", "build a dashboard view of KPI tiles from measures", _views_create)
    vc.add_argument("--name", required=True, help="the view's name")
    vc.add_argument("--measure", action="append", dest="measures", required=True,
                    metavar="MEASURE", help="one tile per measure, key or title (repeatable)")
    vc.add_argument("--title", action="append", dest="titles",
                    help="tile titles, paired with --measure by position (default: the "
                    "measure's title)")
    vc.add_argument("--chart-type", action="append", dest="chart_types", metavar="TYPE",
                    help="chart types paired by position (default: sparkline)")
    vc.add_argument("--granularity", help="the tiles' granularity (server default: day)")
    _ranges(vc)
    _common(vc)
    vl = add(vs, "list", "list dashboard views", _views_list)
    vl.add_argument("--type", help="view, attribution_view or pnl_view (default: all)")
    _common(vl)
    show = add(vs, "show", "show one dashboard view and its widgets", _views_show)
    show.add_argument("view_id", metavar="ID", help="the view's id")
    _common(show)
