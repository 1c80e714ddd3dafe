"""``python -m backprop_crosscheck …`` is ``crosscheck …``."""

import sys

from backprop_crosscheck.comparisons.cli import main

sys.exit(main())
