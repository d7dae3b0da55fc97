"""`python -m adapterlab.cli`, the same as `adapterlab`."""

import sys

from adapterlab.cli.main import main

sys.exit(main())
