"""``python -m tiffzarr``."""

import sys

from tiffzarr.cli import main

sys.exit(main())
