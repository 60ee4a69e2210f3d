"""``python -m launch_control.plane.gateway``: see ``launch_control.plane.gateway.serve``."""

import sys

from launch_control.plane.gateway.serve import main

sys.exit(main())
