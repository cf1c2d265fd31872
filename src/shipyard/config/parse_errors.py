"""Turn YAML and JSON parser errors into one-line ``ConfigError``s that never carry a value.

ruamel.yaml's messages quote document text: a duplicate key is reported with both of its values
(``found duplicate key "account_key" with value "…" (original value: "…")``), an undefined alias
or an unknown tag with its name, and ``str(exc)`` adds a snippet of the offending line. None of
that may reach the user: the value under ``account_key`` is the secret. So a duplicate key is
described from the composed node tree (the key, its key path, both lines) and every other
message keeps only the parser's fixed wording, with quoted document text replaced.

Lines: the line the parser names as the problem, and the line of the token it was reading
(``opened at line N``) where it names one. A problem found at the end of the file (an unclosed
quote or bracket) is reported at the last line that has any text, not at a line past the end.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shipyard.config.keypath import KeyPath, format_path
from shipyard.errors import ConfigError

# Quoted text inside a ruamel message: Python reprs ('x' or "x").
_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# Quoted text that is the parser's own vocabulary, not the document's: ruamel's token names
# ('<block end>' ...) and the YAML indicator characters (and a tab) it expected or found.
_TOKENS = (
    "alias|anchor|block end|block mapping start|block sequence start|byte order mark|comment|directive"
    "|document end|document start|scalar|stream end|stream start|tag"
)
_SAFE_QUOTED_RE = re.compile(rf"^(['\"])(<(?:{_TOKENS})>|[,\[\]{{}}:?\-#&*!|>%@`'\"]|\\t)\1$")
HIDDEN = "(text not shown)"
_MAX_KEY = 80


def scrub(message: str) -> str:
    """``message`` with every quoted piece of document text replaced, on one line."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        return text if _SAFE_QUOTED_RE.match(text) else HIDDEN

    return " ".join(_QUOTED_RE.sub(replace, message).split())


def _last_content_line(text: str) -> int:
    """1-based number of the last line that holds anything but whitespace (1 for an empty text)."""
    lines = text.splitlines()
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip():
            return number
    return 1


def _line(mark: Any, text: str) -> int | None:
    """1-based line of a ruamel mark; a mark at the end of the file moves back to the last text."""
    if mark is None:
        return None
    index = getattr(mark, "index", None)
    if isinstance(index, int) and not text[index:].strip():
        return _last_content_line(text)
    return int(mark.line) + 1


def _key_text(node: Any) -> str:
    value = getattr(node, "value", None)
    if isinstance(value, str):
        return value if len(value) <= _MAX_KEY else value[:_MAX_KEY] + "…"
    return f"a complex key ({getattr(node, 'id', 'node')})"


def _find_key(node: Any, line: int, column: int, path: KeyPath) -> tuple[KeyPath, Any, Any] | None:
    """The key path of the mapping key starting at ``line``/``column`` (0-based), with its first twin."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, MappingNode):
        seen: list[Any] = []
        for key, value in node.value:
            mark = key.start_mark
            if (mark.line, mark.column) == (line, column):
                twin = next((k for k in seen if _node_key(k) == _node_key(key)), None)
                return (*path, _key_text(key)), key, twin
            seen.append(key)
            found = _find_key(value, line, column, (*path, _key_text(key)))
            if found:
                return found
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            found = _find_key(item, line, column, (*path, index))
            if found:
                return found
    return None


def _node_key(node: Any) -> Any:
    """What makes two key nodes the same key: their tag and their (nested) scalar values."""
    value = node.value
    if isinstance(value, str):
        return (node.tag, value)
    return (node.tag, tuple(tuple(_node_key(n) for n in item) if isinstance(item, tuple) else _node_key(item) for item in value))


def _duplicate_key_error(exc: Any, text: str, file: str, language: str) -> ConfigError:
    """``duplicate key 'account_key' (first at line 2, again at line 4)``, with the key path."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    second = exc.problem_mark
    line = second.line + 1 if second is not None else None
    found = None
    if second is not None:
        try:
            found = _find_key(YAML(typ="rt", pure=True).compose(text), second.line, second.column, ())
        except (YAMLError, RecursionError, ValueError):  # the composer failed too: the lines alone
            found = None
    if found is None:
        return ConfigError(f"invalid {language}: duplicate key at line {line}", file=file, line=line)
    path, key, twin = found
    first = f"first at line {twin.start_mark.line + 1}, " if twin is not None else ""
    return ConfigError(
        f"invalid {language}: duplicate key '{_key_text(key)}' ({first}again at line {line})",
        file=file,
        line=line,
        path=format_path(path) or None,
    )


def yaml_error(exc: Exception, text: str, file: str, language: str = "YAML") -> ConfigError:
    """One line for any exception ruamel.yaml raises while loading ``text``; never a value.

    ``language`` is "JSON" for a ``.json`` file (read by the same loader once ``json`` accepts it).
    """
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError
    from ruamel.yaml.reader import ReaderError

    if isinstance(exc, DuplicateKeyError):
        return _duplicate_key_error(exc, text, file, language)
    if isinstance(exc, MarkedYAMLError):
        problem_line = _line(exc.problem_mark, text)
        context_line = _line(exc.context_mark, text)
        problem = scrub(exc.problem or "") or "invalid syntax"
        message = f"invalid {language}: {problem}"
        line = problem_line if problem_line is not None else context_line
        if line is not None:
            message += f" at line {line}"
        context = scrub(exc.context or "")
        if context and context_line is not None and problem_line is not None:
            message += f" ({context} opened at line {context_line})"
        elif context:
            message += f" ({context})"
        return ConfigError(message, file=file, line=line)
    if isinstance(exc, ReaderError):
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        code = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "a character"
        return ConfigError(f"invalid {language}: unacceptable character {code} at line {line}", file=file, line=line)
    if isinstance(exc, RecursionError):
        return ConfigError(f"invalid {language}: nested too deeply to read", file=file)
    if isinstance(exc, (ValueError, OverflowError)):
        # e.g. an integer of more digits than Python converts; the message names no value.
        return ConfigError(f"invalid {language}: a value cannot be read ({type(exc).__name__})", file=file)
    return ConfigError(f"invalid {language} ({type(exc).__name__})", file=file)


def json_error(exc: json.JSONDecodeError | RecursionError, file: str) -> ConfigError:
    """One line for a JSON syntax error. ``JSONDecodeError.msg`` is fixed text, never a value."""
    if isinstance(exc, RecursionError):
        return ConfigError("invalid JSON: nested too deeply to read", file=file)
    problem = exc.msg.removesuffix(" at")  # "Invalid control character at" names its place itself
    return ConfigError(
        f"invalid JSON: {problem} at line {exc.lineno}, column {exc.colno}", file=file, line=exc.lineno
    )
