"""``python -m goggles_gym.pipeline``."""

import sys

from goggles_gym.pipeline.cli import main

sys.exit(main())
