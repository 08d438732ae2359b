"""The `registry` command. Each area is a module; all call the same services as the API."""

import os

import click

from cli import (
    alerts,
    audit,
    backup,
    bans,
    imports,
    institutions,
    keys,
    people,
    rates,
    rules,
    setup,
    staffing,
    users,
)
from cli.common import RegistryGroup


@click.group(cls=RegistryGroup)
@click.pass_context
def main(ctx):
    """托育机构从业人员资质与禁入登记 · the staff credential and lifetime-ban registry."""
    # What a command creates (a database, an audit anchor, uploads, a backup) is for the
    # registry's own account alone; the mask is put back when the command ends.
    previous = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous))


for module in (
    setup,
    users,
    institutions,
    people,
    staffing,
    rates,
    rules,
    bans,
    alerts,
    audit,
    keys,
    backup,
    imports,
):
    for command in module.COMMANDS:
        main.add_command(command)
