"""The check pipeline: read an image (or a node), gather the evidence, run the rules on it.

It sits above ``rules``, ``facts`` and the readers, and below the CLI and the pools: ``image
check``, ``image inspect`` and (coming) ``pool add`` share it. The node's own pipeline, which runs
on the node under Python 3.9, is ``shipyard.node.check``.
"""
