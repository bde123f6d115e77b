"""``python -m scheduler`` does what the ``reload-chain`` console script does."""

import sys

from scheduler.cli import main

sys.exit(main())
