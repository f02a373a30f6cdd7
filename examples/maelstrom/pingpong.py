"""Two nodes bouncing messages as fast as they can (the bridge benchmark's load).

The first node starts `WINDOW` pings (argv[1], default 32) at its peer; every ping is
answered with a pong and every pong with a new ping, so `WINDOW` messages are always
in flight and the rate is set by the nodes and whatever carries their lines.
"""

import sys

from node import Node

node = Node()
WINDOW = int(sys.argv[1]) if len(sys.argv) > 1 else 32


@node.on_init
def start():
    peers = [n for n in node.node_ids if n != node.node_id]
    if peers and node.node_id == node.node_ids[0]:
        for _ in range(WINDOW):
            node.send(peers[0], {"type": "ping"})


@node.handler("ping")
def ping(msg):
    node.send(msg["src"], {"type": "pong"})


@node.handler("pong")
def pong(msg):
    node.send(msg["src"], {"type": "ping"})


if __name__ == "__main__":
    node.run()
