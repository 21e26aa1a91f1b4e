"""The ``qms`` console script. Before it loads the CLI (argparse, the operations), it starts
what the command will wait for: for ``qms export``, the typesetting process, which then
loads Typst and the Markdown parser while the CLI reads its arguments and the record
(render.worker.start_early). Then it runs :func:`qms.cli.main.main`."""

from __future__ import annotations

import sys

from qms.cli.argv import command_word


def main() -> int:
    argv = sys.argv[1:]
    if command_word(argv) == "export" and not {"-h", "--help"} & set(argv):
        from qms.render import worker

        worker.start_early()
    from qms.cli.main import main as run

    return run(argv)
