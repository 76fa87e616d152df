"""Every flag of every command has help text, and shows its default (issue #17); the
client's sparklines fit the room they are given."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from gateway.cli import _parser
from gateway.cli.client_output import MIN_SPARK, sparkline


def _commands(parser: argparse.ArgumentParser, path: str = "gateway"
              ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, f"{path} {name}")


COMMANDS = dict(_commands(_parser()))


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_flag_has_help_and_its_default(path: str) -> None:
    parser = COMMANDS[path]
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{path}: {name} has no help text"
        if action.default not in (None, False, argparse.SUPPRESS):
            shown = parser._get_formatter()._expand_help(action)  # type: ignore[attr-defined]  # argparse's own rendering of one flag's help
            assert f"(default: {action.default})" in " ".join(shown.split()), (path, name)
    assert parser.description, f"{path} has no description"
    assert text


def test_the_client_takes_credentials_from_flags() -> None:
    args = _parser().parse_args(["client", "query", "--measure", "core.revenue", "--url",
                                 "http://x", "--key", "k", "--range", "last_7_days"])
    assert (args.url, args.key, args.range, args.format) == ("http://x", "k", "last_7_days",
                                                             "table")


@pytest.mark.parametrize(("values", "expected"), [
    ([1, 2, 3, 4, 5, 6, 7, 8], "▁▂▃▄▅▆▇█"),
    ([5, 5, 5, 5], "▁▁▁▁"),  # flat: the lowest bar
    ([0, None, 10, 0], "▁ █▁"),  # a missing bucket is a gap
])
def test_sparkline(values: list[float | None], expected: str) -> None:
    assert sparkline(values, 20) == expected


def test_sparkline_fits_its_room() -> None:
    """A series longer than the room is averaged down to it; too little room, none."""
    series: list[float | None] = [float(i % 10) for i in range(365)]
    assert len(sparkline(series, 40)) == 40
    assert sparkline(series, MIN_SPARK - 1) == ""
    assert sparkline([1.0], 40) == ""
