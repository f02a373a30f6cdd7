"""The role a leader-based core holds (Raft §5.1 Figure 2's server states; the same
four for Multi-Paxos, whose pre-candidate asks before raising its ballot)."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    """An `IntEnum` so a role compares, hashes and pickles as the small int it always
    was: explorer state keys and traces are unchanged by naming it."""

    FOLLOWER = 0
    PRE_CANDIDATE = 1  # Raft thesis §9.6 PreVote: asking, term not raised yet
    CANDIDATE = 2
    LEADER = 3

    @property
    def label(self) -> str:
        """The name scenario files print: `follower`, `pre-candidate`, `candidate`, `leader`."""
        return self.name.lower().replace("_", "-")


FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = Role
