"""The ``callflow`` command: one click group, a module per subcommand (``*_cmd.py``).

``serve`` runs the line, ``worker`` the callback dispatchers, ``web`` the advisor and
admin APIs; ``config``, ``db``, ``advisors``, ``callbacks``, ``report``, ``simulate``,
``phone``, ``prompts``, ``ari`` and ``twilio`` are what an admin runs around them, and
``calendar``, ``emergency``, ``queues`` (with ``prompts set`` and ``config history|undo|
reload``) change the line while it runs.
:mod:`.common` holds what every command shares (``--config``, logging, the database, one
way of saying an error); commands stay thin, and the work is in the packages they call.
"""

from __future__ import annotations

import click

from callflow.cli.advisors_cmd import advisors_group
from callflow.cli.ari_cmd import ari_group
from callflow.cli.calendar_cmd import calendar_group
from callflow.cli.callbacks_cmd import callbacks_group
from callflow.cli.config_cmd import config_group
from callflow.cli.db_cmd import db_group
from callflow.cli.emergency_cmd import emergency_group
from callflow.cli.phone_cmd import phone
from callflow.cli.prompts_cmd import prompts_group
from callflow.cli.queues_cmd import queues_group
from callflow.cli.report_cmd import report
from callflow.cli.serve_cmd import serve
from callflow.cli.simulate_cmd import simulate
from callflow.cli.twilio_cmd import twilio_group
from callflow.cli.web_cmd import web
from callflow.cli.worker_cmd import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="callflow")
def main() -> None:
    """Hotline call-flow and callback worker."""


main.add_command(config_group)
main.add_command(db_group)
main.add_command(phone)
main.add_command(report)
main.add_command(simulate)
main.add_command(serve)
main.add_command(worker)
main.add_command(advisors_group)
main.add_command(callbacks_group)
main.add_command(web)
main.add_command(twilio_group)
main.add_command(prompts_group)
main.add_command(ari_group)
main.add_command(calendar_group)
main.add_command(emergency_group)
main.add_command(queues_group)
