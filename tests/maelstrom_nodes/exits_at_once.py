"""A bad node: reports a problem on stderr and exits before reading anything."""

import sys

print("config file missing, giving up", file=sys.stderr)
sys.exit(3)
