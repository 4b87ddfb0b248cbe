"""``python -m vidlib.runner``: see :mod:`vidlib.runner.cli`."""

import sys

from vidlib.runner.cli import main

sys.exit(main())
