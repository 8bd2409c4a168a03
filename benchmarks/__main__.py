"""``python -m benchmarks``: see :mod:`benchmarks`."""

import sys

from benchmarks._run import main

sys.exit(main())
