"""Headless twins of the screens. Each module here exposes:

    NAME: str                                   # the sub-command, e.g. "scan"
    HELP: str                                   # one line for `flowlogs --help`
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(ctx: tui.cli.CliContext) -> int     # the exit code

`run` writes through `ctx.out()` / `ctx.emit_json()` and raises `aws.errors.FlowlogsError` for
problems (the CLI turns them into a message on stderr and an exit code).

`flowlogs --help` must not import the engine, boto3, pydantic or Textual (tests/test_startup.py): a command
module's top level imports argparse, the standard library and cheap pure modules only (`tui.cli`,
`aws.logs.format`); `run()` and the helpers it calls import the engine where they use it.
"""

COMMAND_MODULES = ("scan", "plan", "apply", "policy", "verify", "register", "permissions")
