"""``python -m goggles_gym COMMAND ...``: the same as the ``goggles-gym`` console script."""

import sys

from goggles_gym.cli import main

# Guarded: the pipeline's stage processes (spawn) import the main module again.
if __name__ == "__main__":
    sys.exit(main())
