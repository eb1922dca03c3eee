"""`python -m devenv`: the same entry point as the `devenv` command."""

import sys

from devenv.cli import main

sys.exit(main(exit_when_done=True))
