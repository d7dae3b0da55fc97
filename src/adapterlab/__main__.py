"""`python -m adapterlab` and `accelerate launch -m adapterlab train ...`."""

import sys

from adapterlab.cli import main

sys.exit(main())
