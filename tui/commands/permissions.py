"""`flowlogs permissions`: the least-privilege IAM policies flowlogs itself needs.

Generated from the declarations next to the code that makes each call (`aws/permissions.py`). With
`--json` it prints exactly `{"read_only": {policy document}, "apply": {policy document}}`; `--markdown`
prints the README section. It makes no AWS call and needs no credentials (no session is created).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tui.cli import EXIT_OK

if TYPE_CHECKING:
    from tui.cli import CliContext

NAME = "permissions"
HELP = "Print the IAM policies flowlogs itself needs (read-only and apply); no AWS call"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print the README section (Markdown) instead")


def run(ctx: CliContext) -> int:
    from aws.permissions import permissions_markdown, permissions_text, policy_documents

    if ctx.json:
        ctx.emit_json(policy_documents())
    elif ctx.args.markdown:
        ctx.stdout.write(permissions_markdown())
    else:
        ctx.stdout.write(permissions_text())
    return EXIT_OK
