"""``python -m tiffzarr``: the ``tiffzarr`` command line."""

import sys

from tiffzarr.cli import main

if __name__ == "__main__":
    sys.exit(main())
