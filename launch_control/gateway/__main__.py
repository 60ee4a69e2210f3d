"""``python -m launch_control.gateway``: see ``launch_control.gateway.serve``."""

import sys

from launch_control.gateway.serve import main

sys.exit(main())
