"""``python -m shipyard``: an entry point, which exists to start the CLI (the layering test allows
it to import ``shipyard.cli``)."""

from shipyard.cli.main import run

run()
