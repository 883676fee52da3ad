"""Shared output conventions: every subcommand prints text, or JSON with --json."""

import json
import sys

__all__ = ["CommandError", "emit", "progress"]


class CommandError(Exception):
    """Bad input from the user: printed as one clear line, exit status 2, no traceback."""


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
