"""Maelstrom's echo workload: answer every `echo` with `echo_ok` carrying the same payload."""

from node import Node

node = Node()


@node.handler("echo")
def echo(msg):
    node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})


if __name__ == "__main__":
    node.run()
