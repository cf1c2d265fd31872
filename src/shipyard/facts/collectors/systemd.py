"""systemd units present, and whether each starts at boot, decided from files alone.

Precedence, first that applies:

1. **masked**: the unit name resolves (``/etc`` first, then vendor dirs) to a symlink to
   ``/dev/null`` or an empty file: never started (``enabled=False``).
2. **reached at boot**: starting from ``default.target`` (its alias, else ``multi-user.target``),
   follow every ``<unit>.wants/`` and ``<unit>.requires/`` symlink (``/etc/systemd/system`` and
   the vendor dirs, which is how static vendor enablement works) and the ``Wants=``,
   ``Requires=``, ``BindsTo=`` and ``Upholds=`` of every unit file reached. A unit reached is
   ``enabled=True``; ``via`` names the edge that pulled it in.
3. **sysv**: an ``/etc/init.d`` script with no native unit is enabled when an
   ``/etc/rc[2-5].d/S??name`` link exists (what systemd-sysv-generator does).
4. **presets**, only at the image's first boot: ``/etc/machine-id`` missing or containing
   ``uninitialized`` (machine-id(5); an *empty* file is not a first boot: systemd then boots with
   a transient id and applies no preset). At first boot PID 1 runs ``preset-all`` in
   enable-only mode before the boot transaction, so step 2 follows, besides the real links,
   the ``WantedBy=``/``RequiredBy=`` links that mode would create: for every unit with an
   ``[Install]`` section whose first matching preset rule is ``enable``, or that no rule
   matches (systemd's default is to enable), plus its ``Also=`` units; a template only through
   its ``DefaultInstance=``. ``disable`` and ``ignore`` rules leave a unit as it is.
5. Otherwise ``enabled=False`` (``via="disabled"``, ``"preset disable (first boot)"``, or
   ``"X.wants, not reached at boot"``).

Drop-in directories (``<unit>.d/*.conf``) are not read for dependencies.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass

from shipyard.facts.collectors.common import list_optional
from shipyard.sources.base import read_optional
from shipyard.facts.model import ServiceFacts, UnitFacts
from shipyard.sources.base import FileKind, FileSource, join_link

ETC_UNITS = "/etc/systemd/system"
UNIT_DIRS = (ETC_UNITS, "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
PRESET_DIRS = (
    "/etc/systemd/system-preset",
    "/usr/local/lib/systemd/system-preset",
    "/usr/lib/systemd/system-preset",
    "/lib/systemd/system-preset",
)
UNIT_SUFFIXES = (
    ".service", ".socket", ".target", ".timer", ".path", ".mount", ".automount", ".swap",
    ".slice", ".device",
)
DEPENDENCY_KEYS = ("Wants", "Requires", "BindsTo", "Upholds")
_SYSV_START = re.compile(r"^S\d\d(.+)$")


@dataclass
class _UnitFile:
    name: str
    path: str  # where the listing found it
    directory: str
    target: str | None = None  # where a symlink leads, inside the source
    masked: bool = False

    @property
    def real_path(self) -> str:
        return self.target or self.path


def parse_unit_file(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value (repeated keys accumulate; an empty value resets)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        values = current.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return sections


def _index_units(source: FileSource) -> tuple[dict[str, _UnitFile], dict[str, list[tuple[str, str]]]]:
    """Unit files by name (first directory wins) and dependency links: unit -> (name, dir name)."""
    units: dict[str, _UnitFile] = {}
    links: dict[str, list[tuple[str, str]]] = {}
    seen_dirs: set[tuple[str, ...]] = set()
    for directory in UNIT_DIRS:
        names = list_optional(source, directory)
        key = tuple(names)
        if not names or (directory == "/lib/systemd/system" and key in seen_dirs):
            continue  # usrmerge: /lib/systemd/system lists /usr/lib/systemd/system again
        seen_dirs.add(key)
        for name in names:
            for kind in (".wants", ".requires"):
                if name.endswith(kind):
                    owner = name[: -len(kind)]
                    for wanted in list_optional(source, f"{directory}/{name}"):
                        links.setdefault(owner, []).append((wanted, f"{directory}/{name}"))
            if not name.endswith(UNIT_SUFFIXES) or name in units:
                continue
            units[name] = _read_entry(source, directory, name)
    return units, links


def _read_entry(source: FileSource, directory: str, name: str) -> _UnitFile:
    path = f"{directory}/{name}"
    entry = _UnitFile(name, path, directory)
    stat = source.lstat(path)
    if stat.kind == FileKind.SYMLINK:
        target = join_link(path, source.readlink(path))
        entry.target = target
        entry.masked = target == "/dev/null"
    elif stat.kind == FileKind.FILE and stat.size_bytes == 0:
        entry.masked = True
    return entry


def _alias_of(entry: _UnitFile) -> str | None:
    if entry.target is None or entry.masked:
        return None
    base = posixpath.basename(entry.target)
    return base if base != entry.name and base.endswith(UNIT_SUFFIXES) else None


def _template_of(name: str) -> str | None:
    stem, at, rest = name.partition("@")
    if not at or not rest or rest.startswith("."):
        return None
    return f"{stem}@{rest[rest.index('.'):]}" if "." in rest else None


def _canonical(name: str, units: dict[str, _UnitFile]) -> str:
    seen = set()
    while name in units and name not in seen:
        seen.add(name)
        alias = _alias_of(units[name])
        if alias is None:
            break
        name = alias
    return name


def is_first_boot(source: FileSource) -> bool:
    """machine-id(5): a missing ``/etc/machine-id`` or the content ``uninitialized`` is a first
    boot; an empty file is not (systemd mounts a transient id over it and applies no presets)."""
    text = read_optional(source, "/etc/machine-id")
    return text is None or text.strip() == "uninitialized"


def _reach_boot(
    source: FileSource, units: dict[str, _UnitFile], links: dict[str, list[tuple[str, str]]], start: str
) -> dict[str, str]:
    """Every unit pulled in from ``start``, with the edge that first pulled it in."""
    names_of: dict[str, list[str]] = {}
    for name in units:
        names_of.setdefault(_canonical(name, units), []).append(name)
    reached: dict[str, str] = {start: "default.target"}
    queue = [start]
    while queue:
        owner = queue.pop(0)
        edges: list[tuple[str, str]] = []
        for name in names_of.get(owner, [owner]):
            for wanted, directory in links.get(name, []):
                edges.append((wanted, _link_label(directory)))
        entry = units.get(owner) or units.get(_template_of(owner) or "")
        if entry is not None and not entry.masked:
            section = parse_unit_file(read_optional(source, entry.real_path) or "").get("Unit", {})
            for key in DEPENDENCY_KEYS:
                for value in section.get(key, []):
                    edges += [(w, f"{key}= of {owner}") for w in value.split()]
        for wanted, why in edges:
            name = _canonical(wanted, units)
            if name in reached or (name in units and units[name].masked):
                continue
            reached[name] = why
            queue.append(name)
    return reached


PRESET_LINK = "preset:"  # the "directory" of a link that preset-all would create at first boot


def _link_label(directory: str) -> str:
    """How a wants link is named in ``via``: ``multi-user.target.wants`` (``/etc``), with
    ``(vendor)`` from a vendor dir, or ``(preset, first boot)`` for a link presets add."""
    if directory.startswith(PRESET_LINK):
        return f"{directory[len(PRESET_LINK):]} (preset, first boot)"
    where = posixpath.basename(directory)
    return where if directory.startswith(ETC_UNITS) else f"{where} (vendor)"


def _install_section(source: FileSource, entry: _UnitFile) -> dict[str, list[str]]:
    return parse_unit_file(read_optional(source, entry.real_path) or "").get("Install", {})


def _words(section: dict[str, list[str]], *keys: str) -> list[str]:
    return [word for key in keys for value in section.get(key, []) for word in value.split()]


def _first_boot_links(
    source: FileSource, units: dict[str, _UnitFile], presets: list[tuple[str, str]]
) -> dict[str, list[tuple[str, str]]]:
    """The wants/requires links ``systemctl preset-all --preset-mode=enable-only`` would add."""
    added: dict[str, list[tuple[str, str]]] = {}
    done: set[str] = set()

    def enable(name: str) -> None:
        entry = units.get(name)
        if name in done or entry is None or entry.masked or _alias_of(entry) is not None:
            return
        done.add(name)
        install = _install_section(source, entry)
        targets = [(t, ".wants") for t in _words(install, "WantedBy")]
        targets += [(t, ".requires") for t in _words(install, "RequiredBy")]
        linked = name
        stem, _, suffix = name.partition("@")
        if suffix.startswith("."):  # a template, ``name@.service``
            instances = _words(install, "DefaultInstance")
            if not instances:
                targets = []  # a template without DefaultInstance= cannot be enabled by a preset
            else:
                linked = f"{stem}@{instances[-1]}{suffix}"
        for target, kind in targets:
            added.setdefault(target, []).append((linked, f"{PRESET_LINK}{target}{kind}"))
        for also in _words(install, "Also"):
            enable(also)

    for name in sorted(units):
        if preset_action(presets, name) in (None, "enable"):
            enable(name)
    return added


def load_presets(source: FileSource) -> list[tuple[str, str]]:
    """(action, pattern) rules in systemd's order: files sorted by name, /etc shadowing /usr."""
    files: dict[str, str] = {}
    for directory in PRESET_DIRS:
        for name in list_optional(source, directory):
            if name.endswith(".preset") and name not in files:
                files[name] = f"{directory}/{name}"
    rules: list[tuple[str, str]] = []
    for name in sorted(files):
        for line in (read_optional(source, files[name]) or "").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("enable", "disable", "ignore") and not line.startswith("#"):
                rules.append((words[0], words[1]))
    return rules


def preset_action(rules: list[tuple[str, str]], name: str) -> str | None:
    return next((action for action, pattern in rules if fnmatch.fnmatchcase(name, pattern)), None)


def _sysv_units(source: FileSource, units: dict[str, _UnitFile]) -> dict[str, UnitFacts]:
    scripts = [
        s
        for s in list_optional(source, "/etc/init.d")
        if not s.startswith((".", "README")) and s not in ("functions", "skeleton", "rc", "rcS")
    ]
    if not scripts:
        return {}
    starts: dict[str, str] = {}
    for level in "2345":
        for link in list_optional(source, f"/etc/rc{level}.d"):
            match = _SYSV_START.match(link)
            if match:
                starts.setdefault(match[1], f"sysv rc{level}.d")
    result = {}
    for script in scripts:
        name = f"{script}.service"
        if name in units:
            continue  # a native unit wins over the init script
        via = starts.get(script)
        result[name] = UnitFacts(path=f"/etc/init.d/{script}", enabled=via is not None, via=via or "sysv, no S link")
    return result


def collect_services(source: FileSource) -> ServiceFacts:
    """Every unit file with its enabled-at-boot state (see the module docstring)."""
    units, links = _index_units(source)
    has_default = "default.target" in units and not units["default.target"].masked
    start = _canonical("default.target", units) if has_default else "multi-user.target"
    first_boot = is_first_boot(source)
    presets = load_presets(source) if first_boot else []
    if first_boot:
        for owner, wanted in _first_boot_links(source, units, presets).items():
            links.setdefault(owner, []).extend(wanted)
    reached = _reach_boot(source, units, links, start)
    linked_from = {w: _link_label(d) for owner in links for w, d in links[owner]}
    result: dict[str, UnitFacts] = {}
    for name, entry in units.items():
        if _alias_of(entry) is not None:
            continue
        if entry.masked:
            result[name] = UnitFacts(path=None, enabled=False, masked=True, via="masked")
            continue
        path = entry.real_path
        if name in reached:
            result[name] = UnitFacts(path=path, enabled=True, via=reached[name])
            continue
        if name in linked_from:
            result[name] = UnitFacts(path=path, enabled=False, via=f"{linked_from[name]}, not reached at boot")
            continue
        instance = next((n for n in reached if _template_of(n) == name), None)
        if instance is not None:
            result[name] = UnitFacts(path=path, enabled=True, via=f"instance {instance}")
            continue
        if first_boot and preset_action(presets, name) == "disable":
            result[name] = UnitFacts(path=path, enabled=False, via="preset disable (first boot)")
            continue
        result[name] = UnitFacts(path=path, enabled=False, via="disabled")
    for name in reached:
        template = _template_of(name)
        if name not in units and template in result and result[template].path:
            result[name] = UnitFacts(path=result[template].path, enabled=True, via=reached[name])
    for name, entry in units.items():
        alias = _alias_of(entry)
        if alias is not None:
            canonical = result.get(_canonical(name, units))
            result[name] = UnitFacts(
                path=canonical.path if canonical else entry.real_path,
                enabled=canonical.enabled if canonical else None,
                masked=canonical.masked if canonical else False,
                via=f"alias of {alias}",
                alias_of=_canonical(name, units),
            )
    for name, facts in _sysv_units(source, units).items():
        result.setdefault(name, facts)
    return ServiceFacts(units=result, default_target=start if has_default else None, first_boot=first_boot)
