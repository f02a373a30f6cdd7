"""One run seed derives every rng in the run (house rule 4).

Each consumer gets its own stream, named by a path, so adding a consumer (or drawing
more numbers in one) never shifts the numbers another sees. `random.Random` seeded
with a str hashes it with SHA-512: stable across processes and Python builds.
"""

import random


def derive_rng(seed: int, *path: object) -> random.Random:
    return random.Random("/".join([str(seed), *map(str, path)]))
