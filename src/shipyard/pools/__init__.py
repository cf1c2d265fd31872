"""Pools, nodes, jobs and tasks behind one small backend protocol (``protocol``).

``models`` holds the shapes, named and stated as Azure Batch names and states them, so that the
Azure Batch backend maps one to one; ``local/`` is the embedded backend (SQLite state, a
supervisor process per pool, a process per node); ``select.open_backend`` picks one from the
credentials, in one place. ``specs`` turns the config files into the specs a backend takes, and
``admission`` is what `pool add` checks before it allocates anything.
"""
