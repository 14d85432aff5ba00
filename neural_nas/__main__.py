"""``python -m neural_nas``: the ``neural-nas`` command."""

import sys

from neural_nas.cli import main

if __name__ == "__main__":
    sys.exit(main())
