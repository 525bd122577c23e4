"""The `onshi` command. Each program registers its own sub-commands."""

from __future__ import annotations

import importlib

import click

# "module:attribute" of each click command or group, so that a program's CLI lives with it.
SUBCOMMANDS = (
    "server.cli:serve",
    "server.cli:fixtures",
    "server.cli:examples",
    "server.cli:demo",
    "benchmarks.cli:bench",
    "cardreader_emulator.cli:reader",
    "cardreader_emulator.cli:card",
    "clinic_client.cli:check",
    "clinic_client.cli:bridge",
    "clinic_client.cli:console",
    "rehearsal.cli:scenario",
    "rehearsal.cli:gallery",
    "rehearsal.cli:simulate_day",
    "rehearsal.cli:calibrate",
)


@click.group(help="onshi-sim: オンライン資格確認の模擬環境 / a mock of Japan's online eligibility check")
def main() -> None:
    pass


for spec in SUBCOMMANDS:
    module_name, attribute = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        continue  # a program not built yet
    main.add_command(getattr(module, attribute))
