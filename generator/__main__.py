"""`python -m generator` is the `gostarter` command."""

from generator.cli import run

run()
