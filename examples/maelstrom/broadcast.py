"""Maelstrom's broadcast workload, by gossip (anti-entropy).

Every 100 ms a node sends each neighbour (from `topology`; all nodes until it arrives)
the messages that neighbour has not acknowledged yet. A partition only delays
delivery: the gossip repeats until the neighbour's `gossip_ok` lists the messages.
"""

from node import Node

node = Node()
messages: set = set()
neighbours: list[str] = []
acked: dict[str, set] = {}


@node.on_init
def start():
    neighbours[:] = [n for n in node.node_ids if n != node.node_id]
    node.every(0.1, gossip)


@node.handler("topology")
def topology(msg):
    mine = msg["body"]["topology"].get(node.node_id)
    if mine:
        neighbours[:] = mine
    node.reply(msg, {"type": "topology_ok"})


@node.handler("broadcast")
def broadcast(msg):
    messages.add(msg["body"]["message"])
    node.reply(msg, {"type": "broadcast_ok"})


@node.handler("read")
def read(msg):
    node.reply(msg, {"type": "read_ok", "messages": sorted(messages)})


@node.handler("gossip")
def on_gossip(msg):
    got = msg["body"]["messages"]
    messages.update(got)
    node.reply(msg, {"type": "gossip_ok", "messages": got})


def gossip():
    for peer in neighbours:
        missing = messages - acked.setdefault(peer, set())
        if missing:
            node.rpc(peer, {"type": "gossip", "messages": sorted(missing)},
                     lambda reply, peer=peer: acked[peer].update(reply["body"]["messages"]))


if __name__ == "__main__":
    node.run()
