"""``-p KEY=VALUE`` options: design and RDU parameters on the command line."""

import json

from .output import CommandError

__all__ = ["add_param_option", "parse_params"]


def add_param_option(parser, what: str = "a parameter") -> None:
    """``-p/--param KEY=VALUE``, repeatable, into ``args.param``."""
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override {what} (VALUE is JSON, or a bare string)")


def parse_params(pairs) -> dict:
    """``{KEY: VALUE}`` of ``KEY=VALUE`` strings, VALUE read as JSON where it is JSON."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"parameter {pair!r} is not KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params
