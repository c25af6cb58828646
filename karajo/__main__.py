"""`python -m karajo` and the zipapp's entry point."""

import sys

from karajo.cli import main

sys.exit(main())
