"""GRUB 2's menu, read as GRUB reads ``grub.cfg``: menu entries, submenus, ``set default``,
``load_env`` from ``grubenv``, ``configfile`` and ``blscfg``.

Only what decides the default entry is interpreted; GRUB script is not executed. The parser
tokenises words (quotes, escapes), tracks ``{ ... }`` blocks and follows the few commands that
matter: ``menuentry``/``submenu`` (their title and ``--id``), ``linux*``/``initrd*`` inside an
entry, ``set default=`` / ``set saved_entry=`` / ``set kernelopts=``, and ``configfile``/
``source`` (Ubuntu's EFI stub ``grub.cfg`` hands over to ``/boot/grub/grub.cfg``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shipyard.sources.base import FileSource, read_optional

MAX_CONFIG_DEPTH = 4
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class GrubEntry:
    title: str
    entry_id: str | None
    path: tuple[int, ...]  # the entry's position: (2,) or (1, 0) inside submenu 1
    kernel: str | None = None
    initrd: tuple[str, ...] = ()
    cmdline: str | None = None
    source: str = ""


@dataclass
class GrubMenu:
    files: list[str] = field(default_factory=list)
    entries: list[GrubEntry] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # after the script ran: default, saved_entry, ...
    blscfg: bool = False  # the menu is built from /boot/loader/entries (RHEL, Fedora)


def words(line: str) -> list[str]:
    """A line of GRUB script as words: quotes removed, escapes resolved, comments dropped."""
    result: list[str] = []
    current: list[str] = []
    started = False
    i, quote = 0, ""
    while i < len(line):
        char = line[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and i + 1 < len(line) and line[i + 1] in '"\\$':
                i += 1
                current.append(line[i])
            else:
                current.append(char)
        elif char in "'\"":
            quote, started = char, True
        elif char == "\\" and i + 1 < len(line):
            i += 1
            current.append(line[i])
            started = True
        elif char == "#" and not started and not current:
            break
        elif char in " \t":
            if started or current:
                result.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    if started or current:
        result.append("".join(current))
    return result


def expand(value: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def read_grubenv(text: str) -> dict[str, str]:
    """``grubenv``: a 1 KiB block of ``key=value`` lines padded with ``#``."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value
    return values


def _entry_id(parts: list[str]) -> str | None:
    """``--id ID``, or grub-mkconfig's ``$menuentry_id_option 'gnulinux-simple-UUID'``."""
    for marker in ("--id", "$menuentry_id_option"):
        if marker in parts:
            index = parts.index(marker) + 1
            if index < len(parts) and parts[index] != "{":
                return parts[index]
    return None


class _Parser:
    def __init__(self, source: FileSource, menu: GrubMenu, grub_dir: str) -> None:
        self.source = source
        self.menu = menu
        self.grub_dir = grub_dir  # $prefix: where grub.cfg and grubenv are

    def parse_file(self, path: str, depth: int = 0) -> None:
        text = read_optional(self.source, path)
        if text is None or depth > MAX_CONFIG_DEPTH:
            return
        self.menu.files.append(path)
        self.parse_lines(text.splitlines(), path, depth)

    def parse_lines(self, lines: list[str], path: str, depth: int) -> None:
        # blocks open: ("entry", its entry), ("submenu", None) or ("block", None) for a function
        stack: list[tuple[str, GrubEntry | None]] = []
        parents: list[int] = []  # the positions of the submenus we are in
        counts: list[int] = [0]  # entries so far at each menu level
        for raw in lines:
            parts = words(raw.strip())
            if not parts:
                continue
            head = parts[0]
            if head in ("menuentry", "submenu"):
                entry = GrubEntry(title=parts[1] if len(parts) > 1 and parts[1] != "{" else "",
                                  entry_id=_entry_id(parts), path=(*parents, counts[-1]), source=path)
                if parts[-1] != "{":  # grub-mkconfig always opens the body on the same line
                    counts[-1] += 1
                    continue
                if head == "menuentry":
                    self.menu.entries.append(entry)
                    stack.append(("entry", entry))
                else:
                    stack.append(("submenu", None))
                    parents.append(counts[-1])
                    counts.append(0)
                continue
            if head == "}":
                if stack:
                    kind, _ = stack.pop()
                    if kind == "submenu":
                        parents.pop()
                        counts.pop()
                    counts[-1] += 1 if kind in ("entry", "submenu") else 0
                continue
            if parts[-1] == "{":  # function NAME {
                stack.append(("block", None))
                continue
            inside = next((e for kind, e in reversed(stack) if kind == "entry"), None)
            if inside is not None:
                self._entry_line(inside, parts)
            elif head not in ("if", "elif", "else", "fi", "then", "for", "while", "do", "done"):
                # conditions are not evaluated: both branches run, the later wins, which is what
                # grub-mkconfig's header means (`set default="${next_entry}"` else `set default="0"`)
                self._command(parts, path, depth)

    def _entry_line(self, entry: GrubEntry, parts: list[str]) -> None:
        variables = self.menu.variables
        if parts[0] in ("linux", "linuxefi", "linux16") and len(parts) > 1:
            entry.kernel = expand(parts[1], variables)
            entry.cmdline = expand(" ".join(parts[2:]), variables).strip()
        elif parts[0] in ("initrd", "initrdefi", "initrd16"):
            entry.initrd = tuple(expand(p, variables) for p in parts[1:])

    def _command(self, parts: list[str], path: str, depth: int) -> None:
        head = parts[0]
        variables = self.menu.variables
        if head == "set" and len(parts) > 1 and "=" in parts[1]:
            key, _, value = parts[1].partition("=")
            variables[key] = expand(value, variables)
        elif head == "load_env":
            files = [expand(p, variables) for p in parts[1:] if not p.startswith("-")]
            env_path = self._grub_path(files[0]) if "-f" in parts and files else f"{self.grub_dir}/grubenv"
            text = read_optional(self.source, env_path)
            if text is not None:
                wanted = [p for p in parts[1:] if not p.startswith("-") and "/" not in p and "$" not in p]
                for key, value in read_grubenv(text).items():
                    if not wanted or key in wanted:
                        variables[key] = value
        elif head in ("configfile", "source") and len(parts) > 1:
            self.parse_file(self._grub_path(expand(parts[1], variables)), depth + 1)
        elif head == "blscfg":
            self.menu.blscfg = True

    def _grub_path(self, value: str) -> str:
        """A path as GRUB names it, "($root)/boot/grub/grub.cfg" or "$prefix/grub.cfg", in the root."""
        value = re.sub(r"^\([^)]*\)", "", value)
        if value.startswith(self.grub_dir):
            return value
        if not value.startswith("/"):
            return f"{self.grub_dir}/{value}"
        return value


GRUB_DIRS = ("/boot/grub", "/boot/grub2")


def read_grub_menu(source: FileSource) -> GrubMenu | None:
    """The menu of the first ``grub.cfg`` found (GRUB's own directory first, then the EFI
    system partition's stub), or None when there is none."""
    candidates = [f"{d}/grub.cfg" for d in GRUB_DIRS]
    for esp in ("/boot/efi/EFI", "/efi/EFI", "/boot/EFI"):
        try:
            vendors = source.listdir(esp)
        except (FileNotFoundError, NotADirectoryError):
            continue
        candidates += [f"{esp}/{v}/grub.cfg" for v in vendors if v.upper() != "BOOT"]
        candidates.append(f"{esp}/BOOT/grub.cfg")
    for path in candidates:
        if source.exists(path):
            grub_dir = path.rpartition("/")[0]
            if not grub_dir.startswith(GRUB_DIRS):
                grub_dir = next((d for d in GRUB_DIRS if source.exists(d)), grub_dir)
            # what GRUB sets before it reads grub.cfg: $prefix and $config_directory are its own directory
            menu = GrubMenu(variables={"prefix": grub_dir, "config_directory": grub_dir, "root": ""})
            _Parser(source, menu, grub_dir).parse_file(path)
            return menu
    return None


def default_entry(menu: GrubMenu, entries: list[GrubEntry]) -> tuple[int | None, str]:
    """The index into ``entries`` that GRUB boots, and why: ``set default`` as an index, an
    index path ("1>2"), a title or an id; ``saved`` or an empty default means entry 0."""
    value = menu.variables.get("default", "")
    if not entries:
        return None, "no menu entry"
    if value in ("", "0"):
        return 0, f'set default="{value}"' if value else "the first entry"
    if value == "saved":  # GRUB_DEFAULT=saved without a load_env in the script
        value = menu.variables.get("saved_entry", "0")
    path = tuple(int(p) for p in value.split(">")) if re.fullmatch(r"\d+(>\d+)*", value) else None
    for index, entry in enumerate(entries):
        if (path is not None and entry.path == path) or value in (entry.title, entry.entry_id):
            return index, f'set default="{value}"'
        if ">" in value and path is None and value.split(">")[-1] in (entry.title, entry.entry_id):
            return index, f'set default="{value}"'
    return None, f'set default="{value}" names no menu entry'
