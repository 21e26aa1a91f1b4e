"""The ``qms`` console script. Before it loads the CLI (argparse, the operations), it starts
what the command will wait for: for ``qms export``, the typesetting process, which then
loads Typst and the Markdown parser while the CLI reads its arguments and the record
(render.worker.start_early). Then it runs :func:`qms.cli.main.main`."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Sequence


def main() -> int:
    argv = sys.argv[1:]
    if command_word(argv) == "export" and not {"-h", "--help"} & set(argv):
        from qms.render import worker

        worker.start_early()
    from qms.cli.main import main as run

    return run(argv)


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
