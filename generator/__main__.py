"""`python -m generator` is the `gostarter` command."""

import sys

from generator.cli import main

sys.exit(main())
