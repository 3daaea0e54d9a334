"""``python -m goggles_gym COMMAND ...``: the same as the ``goggles-gym`` console script."""

import sys

from goggles_gym.cli import main

sys.exit(main())
