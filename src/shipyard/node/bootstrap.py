#!/usr/bin/env python3
"""shipyard node prep bootstrap: the start task's only dependency is the node's python3 (3.9+).

`shipyard node bundle` copies this file next to a ``wheels/`` folder (shipyard's own wheel, and
``cpXY/`` with the dependencies built for each CPython version). Run on the node, it unpacks
the wheels for this interpreter into ``site-pyXY/`` beside itself (once; a reboot
re-uses it), puts that first on ``sys.path`` and runs ``shipyard node prep`` with the given
arguments. No pip, venv or network is needed on the node. Standard library only.

It is an entry point, which exists to start the CLI's ``node prep``: the one module below
``shipyard.cli`` that may import it (``tests/test_layering.py`` allows exactly this).
"""

# This file must parse on any python3, so that a node too old gets the one-line message below
# rather than a SyntaxError: no f-strings, percent formatting, and the version check is needed.
# ruff: noqa: UP031, UP036

import os
import platform
import shutil
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def unpack(wheel_paths, target):
    """Unpack the wheels into ``target`` atomically (a half-unpacked dir never counts)."""
    partial = target + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    for path in wheel_paths:
        with zipfile.ZipFile(path) as wheel:
            wheel.extractall(partial)
    os.replace(partial, target)


def wheels_for(version):
    """shipyard's own wheel plus the dependency wheels built for this CPython version."""
    top = os.path.join(HERE, "wheels")
    per_version = os.path.join(top, "cp" + version)
    if not os.path.isdir(per_version):
        return None
    return [os.path.join(d, n) for d in (top, per_version) for n in sorted(os.listdir(d)) if n.endswith(".whl")]


def main(argv):
    version = "%d%d" % sys.version_info[:2]
    if sys.version_info < (3, 9):
        sys.stderr.write("shipyard: error: node prep needs python3 3.9 or newer, found %d.%d\n" % sys.version_info[:2])
        return 1
    target = os.path.join(HERE, "site-py" + version)
    if not os.path.isdir(target):
        wheels = wheels_for(version)
        if wheels is None:
            sys.stderr.write(
                "shipyard: error: this node prep bundle has no wheels for python %d.%d on %s; "
                "rebuild it with `shipyard node bundle --python %d.%d`\n"
                % (sys.version_info[0], sys.version_info[1], platform.machine(), sys.version_info[0], sys.version_info[1])
            )
            return 1
        unpack(wheels, target)
    sys.path.insert(0, target)
    from shipyard.cli.main import main as shipyard_main

    return shipyard_main(["node", "prep", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
