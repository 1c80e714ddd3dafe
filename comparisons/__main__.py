import sys

from backprop_crosscheck.comparisons.cli import main

sys.exit(main())
