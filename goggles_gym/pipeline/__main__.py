"""``python -m goggles_gym.pipeline``."""

import sys

from goggles_gym.pipeline.cli import main

# Guarded: the pipeline's stage processes (spawn) import the main module again.
if __name__ == "__main__":
    sys.exit(main())
