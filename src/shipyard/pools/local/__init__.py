"""The embedded local backend: pools, nodes, jobs and tasks on this machine, no Azure.

It runs the guide's model on one machine, with Azure Batch's semantics, so a user can rehearse
the whole job before spending money.

State
    One SQLite database (the standard library's ``sqlite3``, WAL mode, every write in a
    ``BEGIN IMMEDIATE`` transaction) under the shipyard home: ``$SHIPYARD_HOME/local/pools.db``.
    It outlives every process; a second ``shipyard`` process sees the same pools, and concurrent
    CLI calls never corrupt or lose it.

Processes
    ``add_pool`` starts the pool's *supervisor*, detached from the terminal (its own session),
    and says so. The supervisor starts **one process per node**, schedules tasks onto the nodes'
    slots and keeps a heartbeat in the database. Nodes are forked from the supervisor, which has
    imported once what a node and its start task need (a zygote: ``nodes.ForkedNode``,
    ``node.forked_main``), so a node costs no interpreter start-up or imports and shares the
    supervisor's pages copy-on-write; each is still its own process, one dying while the others
    run. Each node process runs its start task (node
    prep against the image it boots from), then the tasks it is given, each in its own process
    group. A node that dies goes ``unusable`` and comes back through ``starting``; its tasks are
    requeued without using a retry. A supervisor that died (``kill -9``, a reboot) is noticed by
    the next call that touches its pool, through the heartbeat, and started again: its nodes go
    through ``starting`` again and the tasks that were running are requeued; nothing is lost and
    nothing runs twice at the same time. ``delete_pool`` stops the supervisor, every node and
    every task (process groups: no orphans) and removes the pool's state.

Nodes
    Each node has Batch's directory layout under ``$SHIPYARD_HOME/local/pools/<pool>/<node>/``
    (``shared/``, ``startup/``, ``workitems/``, ``volatile/``) and environment
    (``AZ_BATCH_NODE_ROOT_DIR``, ``AZ_BATCH_NODE_SHARED_DIR``, ``AZ_BATCH_NODE_STARTUP_DIR``,
    ``AZ_BATCH_NODE_ID``, ``AZ_BATCH_POOL_ID``, ``AZ_BATCH_NODE_IS_DEDICATED``). A task's directory
    is ``workitems/<job>/job-1/<task>/`` with ``stdout.txt``, ``stderr.txt`` and ``wd/``, kept
    for the task's retention time after it completes (Batch's 7 days when it sets none).

Modules
    ``backend`` (``LocalBackend``, the protocol; ``supervisor_pid``, ``wait_for_nodes``,
    ``wait_for_tasks``, ``wait_for_requests``), ``launch`` (starting, finding and stopping a
    supervisor), ``state`` (the database), ``intake`` (the backend's own checks of what is added),
    ``files`` (node and task files); the supervisor: ``supervisor`` (its loop and pipes), ``sync``
    (loading, recovery, requests and batched writes), ``dispatch`` (nodes to targets, tasks onto
    slots, what each event means), ``scheduler`` (priorities, round-robin, dependencies),
    ``nodes`` (a node process as the supervisor keeps it), ``retention`` (task directories removed
    once their retention time has passed); a node: ``node`` (its loop), ``starttask`` (node prep on
    the image's facts, set-up, ``additional_node_prep``), ``images`` (the facts read once per VHD),
    ``runner`` (one task), ``outputs`` (its ``output_files``, uploaded to the local store); and
    ``wire``, ``procs``, ``layout``, ``codec`` beneath them.
"""
