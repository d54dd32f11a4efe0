"""``python -m benchmarks run [--suite NAME] [--quick]``: the same as ``relucert bench run``."""

import sys

from benchmarks.runner import main

sys.exit(main(sys.argv[1:]))
