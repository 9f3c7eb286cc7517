"""The ``civicloop`` command line (Typer): the composition root that mounts every command group.

The commands live with their capability's command module (``cases``, ``admin``, ``demo``, ``kpi``,
``ledger``, ``geo``, ``triage``, ``serve``); what they share — options, opening a city, errors and the
exit codes (0 done, 1 a check failed, 2 bad input naming the option or field) — is in
:mod:`civicloop.cli.common`.
"""

from __future__ import annotations

from civicloop.cli.admin import backup_command, init_command, restore_command
from civicloop.cli.cases import audit_app, case_app, rebuild_command
from civicloop.cli.city import city_app
from civicloop.cli.common import CommandGroup
from civicloop.cli.demo import demo_command, simulate_command
from civicloop.cli.geo import geo_app, grid_app, patrol_app
from civicloop.cli.kpi import import_command, kpi_app, locate_command, report_command
from civicloop.cli.ledger import assess_app, ledger_app, target_app
from civicloop.cli.serve import apikey_app, serve_command, user_app
from civicloop.cli.triage import triage_app
from civicloop.kernel.i18n import both

app = CommandGroup(
    name="civicloop",
    help=both("cli.help.main"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Commands first, then the groups, in the order `civicloop --help` lists them. `report` and
# `import-cases` take a positional file before options: plain commands, not groups.
app.command("init")(init_command)
app.command("simulate")(simulate_command)
app.command("rebuild")(rebuild_command)
app.command("demo")(demo_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("report")(report_command)
app.command("import-cases")(import_command)
app.command("locate-cases")(locate_command)
app.command("serve")(serve_command)

app.add_typer(case_app, name="case")
app.add_typer(audit_app, name="audit")
app.add_typer(triage_app, name="triage")
app.add_typer(geo_app, name="geo")
app.add_typer(grid_app, name="grid")
app.add_typer(patrol_app, name="patrol")
app.add_typer(ledger_app, name="ledger")
app.add_typer(target_app, name="target")
app.add_typer(assess_app, name="assess")
app.add_typer(kpi_app, name="kpi")
app.add_typer(apikey_app, name="apikey")
app.add_typer(user_app, name="user")
app.add_typer(city_app, name="city")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
