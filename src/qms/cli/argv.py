"""What a command line asks for, read before argparse is loaded (qms.cli.start)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Sequence


def command_word(argv: Sequence[str]) -> str | None:
    """The command in ``argv`` (after the global options), or None if unclear."""
    tokens = iter(argv)
    for token in tokens:
        if token in ("-u", "--user", "--token-file"):
            next(tokens, None)
        elif token == "--json" or token.startswith(("--user=", "--token-file=")) or \
                (token.startswith("-u") and not token.startswith("--")):
            continue
        else:
            return None if token.startswith("-") else token
    return None
