"""protocols/common: the roles enum and the quorum arithmetic both consensus cores use."""

from __future__ import annotations

import pickle
import random

from workbench.protocols.common.quorum import kth_largest, majority
from workbench.protocols.common.roles import LEADER, PRE_CANDIDATE, Role
from workbench.protocols.raft import ROLE_NAMES


def test_majorities_of_the_same_membership_intersect() -> None:
    assert [majority(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]
    for n in range(1, 10):
        assert 2 * majority(n) > n  # any two majorities share a node
        assert 2 * (majority(n) - 1) <= n  # and one fewer would not


def test_kth_largest_is_the_point_k_of_them_reach() -> None:
    rng = random.Random(16)
    for _ in range(200):
        values = [rng.randrange(10) for _ in range(rng.randrange(1, 8))]
        k = rng.randrange(1, len(values) + 1)
        point = kth_largest(values, k)
        assert sum(v >= point for v in values) >= k
        assert sum(v > point for v in values) < k, (values, k, point)


def test_roles_behave_as_the_ints_they_replaced() -> None:
    assert LEADER == 3 and hash(LEADER) == hash(3) and [0, 1, 2, 3][LEADER] == 3
    assert pickle.loads(pickle.dumps(PRE_CANDIDATE)) is PRE_CANDIDATE
    # The scenario runner prints these names; scenario files pin them.
    assert ROLE_NAMES == ("follower", "pre-candidate", "candidate", "leader")
    assert [role.label for role in Role] == list(ROLE_NAMES)
