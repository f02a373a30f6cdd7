"""A bad node: reads its input forever and never answers anything (not even init)."""

import sys

for _line in sys.stdin:
    pass
