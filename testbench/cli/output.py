"""Shared output conventions: every subcommand prints text, or JSON with --json."""

import argparse
import json
import sys

__all__ = ["CommandError", "add_output_options", "emit", "progress"]


class CommandError(Exception):
    """Bad input from the user: printed as one clear line, exit status 2, no traceback."""


def add_output_options(parser, suppress: bool = False) -> None:
    """Add ``--json`` and ``--quiet`` to ``parser``. ``suppress``: leave them unset when
    not given (for an action's parser, so they work before or after the action)."""
    default = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable JSON on stdout", **default)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr",
                        **default)


def emit(args, data: dict, text: str) -> None:
    """Print ``data`` as JSON if ``--json`` was given, else ``text``."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def progress(args, message: str) -> None:
    """A status line on stderr (kept off stdout so --json output stays parseable)."""
    if not getattr(args, "quiet", False):
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
