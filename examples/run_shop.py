"""Run the Corner Shop demo from any directory: `python3 examples/run_shop.py [--rounds N]`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shop.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
