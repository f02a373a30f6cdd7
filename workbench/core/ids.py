"""Identifiers. Plain ints keep messages small and hashing cheap."""

from typing import TypeAlias

NodeId: TypeAlias = int
"""A replica, numbered 0..n-1."""

ProcessId: TypeAlias = int
"""A Jepsen process: one single-threaded client. Process p sits beside node p mod n."""
