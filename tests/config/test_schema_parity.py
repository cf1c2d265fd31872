"""shipyard's validation against Batch Shipyard's own pykwalify schemas, on the corpus and its mutants.

Every corpus file goes through both validators; then a deterministic set of single-fault mutants
(a scalar of the wrong type, a required key removed, a value outside its enum or range, a key
misspelled, a missing subtree inserted in its minimal valid form, ...), made from the corpus files
and the schemas, goes through both. The two must agree, except for the disagreements listed in
``KNOWN`` and ``KNOWN_CORPUS`` below, each with its reason. A new, unexplained disagreement fails
the test; so does an entry of the tables that no longer matches anything.

Verdicts: the schema ``accept``s or ``reject``s. shipyard ``reject``s (an error finding),
``warn``s (no error, but a warning the unmutated file did not get) or ``accept``s.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import CORPUS
from shipyard.config.document import Document, load_document
from shipyard.config.keypath import KeyPath
from shipyard.config.kinds import ConfigKind
from shipyard.config.paths import SUFFIXES
from shipyard.config.validate import detect_kind, validate_document
from shipyard.errors import ConfigError
from shipyard.results import Severity

pykwalify_core = pytest.importorskip("pykwalify.core")

SCHEMAS = CORPUS / "schemas"
Op = tuple[str, KeyPath, Any]  # ("set", path, value) | ("del", path, None) | ("rename", path, new_key)


@dataclass(frozen=True)
class Known:
    """One explained class of disagreement: which mutants, what shipyard says, and why."""

    fault: str  # the mutation, or "*"
    where: str  # a glob over the schema path, e.g. "pool_specification.vm_count"
    shipyard: str  # shipyard's verdict on these mutants
    reason: str


# Disagreements on mutants. The schema's verdict is implied: it rejects what shipyard accepts or
# warns about, and accepts what shipyard rejects.
KNOWN: list[Known] = [
    Known(
        "misspell",
        "*",
        "warn",
        "an unknown key is a warning, not an error: the corpus and shipyard's own extensions need"
        " extra keys kept. The warning names the key and the closest known key (tested below); a"
        " misspelled required key is an error.",
    ),
    Known(
        "missing",
        "pool_specification.vm_configuration.custom_image.arm_image_id",
        "accept",
        "shipyard also reads the VHD era's custom_image.image_uris; the rule pool.image_source"
        " (config check) requires exactly one of the two",
    ),
    Known(
        "missing",
        "slurm.shared_data_volumes.*.host_mount_path",
        "accept",
        "Batch Shipyard's own slurm template writes mount_path, and every corpus file must load;"
        " the unknown-key warning there names host_mount_path",
    ),
    Known(
        "insert",
        "job_specifications[].tasks[].multi_instance",
        "reject",
        "the schema lets multi_instance.num_instances out, but Batch Shipyard's own code then fails"
        " (it reads the key unconditionally); shipyard requires it",
    ),
]

# Corpus files the schema rejects and shipyard loads (the corpus must load), and why.
KNOWN_CORPUS: dict[str, str] = {
    "_history/2.9.6/config_templates/pool.json": "the Batch Shipyard 2.9.6 pool: image_uris (the VHD era"
    " shipyard serves) and 2.x input_data keys, read as their 3.x form with a warning",
    "config_templates/jobs.yaml": "max_active_task_backlog.ratio: null, a placeholder; shipyard requires the"
    " key and lets its value be left out",
    "config_templates/monitor.yaml": "additional_dashboards: {}; the schema wants at least one dashboard once"
    " the key is written, shipyard reads an empty map as none",
    "config_templates/slurm.yaml": "mount_path for host_mount_path (a warning), and other_options: [] read as"
    " not set",
    "recipes/OpenFOAM-Infiniband-IntelMPI/config/jobs.yaml": "auto_scratch: true, the 2.x form (a warning)",
    "recipes/OpenFOAM-Infiniband-OpenMPI/config/jobs.yaml": "auto_scratch: true, the 2.x form (a warning)",
    "recipes/OpenFOAM-TCP-OpenMPI/config/jobs.yaml": "auto_scratch: true, the 2.x form (a warning)",
}


# --- the schema side -----------------------------------------------------------------------------


class SchemaValidator:
    """pykwalify with each schema's rule tree built once (building it is most of the cost)."""

    def __init__(self) -> None:
        logging.getLogger("pykwalify").setLevel(logging.CRITICAL)
        self._cores: dict[ConfigKind, Any] = {}
        self.schemas: dict[ConfigKind, dict[str, Any]] = {}
        for kind in ConfigKind:
            schema = YAML(typ="safe", pure=True).load((SCHEMAS / f"{kind.value}.yaml").read_text())
            self.schemas[kind] = schema
            core = pykwalify_core.Core(source_data={}, schema_data=copy.deepcopy(schema))
            core.validate(raise_exception=False)  # builds core.root_rule
            self._cores[kind] = core

    def errors(self, kind: ConfigKind, data: Any) -> list[str]:
        core = self._cores[kind]
        core.errors = []
        core._validate(data, core.root_rule, "", [])
        return [str(e) for e in core.errors]


# --- mutants -------------------------------------------------------------------------------------


def rule_type(rule: dict[str, Any]) -> str:
    if "type" in rule:
        return str(rule["type"])
    return "seq" if "sequence" in rule else "map" if "mapping" in rule else "str"


def regex_key(pattern: str) -> str:
    """A key that the schema's ``regex;(...)`` mapping accepts."""
    for candidate in ("a1", "a1.json", "0"):
        if re.search(pattern, candidate) and not (pattern.endswith("$)") and candidate == "aad"):
            return candidate
    raise AssertionError(f"no sample key for regex {pattern}")


def split_mapping(rule: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    named: dict[str, Any] = {}
    regexes: list[tuple[str, dict[str, Any]]] = []
    for key, sub in (rule.get("mapping") or {}).items():
        if key.startswith("regex;"):
            regexes.append((key[len("regex;(") : -1], sub))
        else:
            named[key] = sub
    return named, regexes


def minimal(rule: dict[str, Any]) -> Any:
    """The smallest value the schema accepts for ``rule``, with one entry for each regex mapping."""
    kind = rule_type(rule)
    if kind == "map":
        named, regexes = split_mapping(rule)
        out = {key: minimal(sub) for key, sub in named.items() if sub.get("required")}
        for pattern, sub in regexes[:1]:
            out[regex_key(pattern)] = minimal(sub)
        return out
    if kind == "seq":
        return [minimal(rule["sequence"][0])]
    if "enum" in rule:
        return rule["enum"][0]
    low = (rule.get("range") or {}).get("min")
    return {"int": low if low is not None else 1, "bool": True, "float": 1.5, "text": "x"}.get(kind, "x")


def misspell(key: str) -> str:
    """Drop one letter from the middle (``dedicated`` -> ``dediated``)."""
    return key[: len(key) // 2] + key[len(key) // 2 + 1 :] if len(key) > 3 else key + "x"


def wrong_values(rule: dict[str, Any]) -> list[tuple[str, Any]]:
    kind = rule_type(rule)
    wrong: list[tuple[str, Any]] = {
        "int": [("type", "2"), ("type", True), ("type", 2.5)],
        "bool": [("type", "yes"), ("type", 1)],
        "float": [("type", True), ("type", "x")],
        "text": [("type", True), ("type", ["x"])],
        "str": [("type", 1), ("type", True)],
        "map": [("type", "x")],
        "seq": [("type", "x")],
    }.get(kind, [])
    if "enum" in rule:
        wrong.append(("enum", "bogus"))
    bounds = rule.get("range") or {}
    if "min" in bounds:
        wrong.append(("range", bounds["min"] - 1))
    if "max" in bounds:
        wrong.append(("range", bounds["max"] + 1))
    return wrong


@dataclass(frozen=True)
class Mutant:
    kind: ConfigKind
    source: Path
    fault: str
    where: str  # the schema path: keys, "[]" for sequence items, "*" for regex-mapped keys
    ops: tuple[Op, ...]
    synthetic: bool  # the mutated node was inserted (its minimal form), not taken from the file

    def apply(self, data: Any) -> Any:
        data = copy.deepcopy(data)
        for op, path, arg in self.ops:
            parent = data
            for part in path[:-1]:
                parent = parent[part]
            if op == "set":
                parent[path[-1]] = copy.deepcopy(arg)
            elif op == "del":
                del parent[path[-1]]
            else:  # rename, keeping the key's place
                items = [(arg if k == path[-1] else k, v) for k, v in parent.items()]
                parent.clear()
                parent.update(items)
        return data

    def label(self) -> str:
        return f"{self.source.relative_to(CORPUS)}: {self.fault} at {self.where} ({self.ops[-1][0]} {self.ops[-1][2]!r})"


def mutants_of(
    kind: ConfigKind, source: Path, data: Any, rule: dict[str, Any], path: KeyPath = (), where: str = "",
    prefix: tuple[Op, ...] = (), synthetic: bool = False,
) -> Iterator[Mutant]:
    def make(fault: str, op: Op, at: str = where, synth: bool = synthetic) -> Mutant:
        return Mutant(kind, source, fault, at, (*prefix, op), synth)

    for fault, value in wrong_values(rule) if path else []:
        yield make(fault, ("set", path, value))
    kind_of = rule_type(rule)
    if kind_of == "map" and isinstance(data, dict):
        named, regexes = split_mapping(rule)
        for key, sub in named.items():
            at = f"{where}.{key}" if where else key
            if key in data and data[key] is not None:
                if sub.get("required"):
                    yield make("missing", ("del", (*path, key), None), at)
                yield make("misspell", ("rename", (*path, key), misspell(key)), at)
                yield from mutants_of(kind, source, data[key], sub, (*path, key), at, prefix, synthetic)
            elif key not in data:
                sample = minimal(sub)
                insert: Op = ("set", (*path, key), sample)
                yield make("insert", insert, at, True)
                yield from mutants_of(kind, source, sample, sub, (*path, key), at, (*prefix, insert), True)
        for pattern, sub in regexes[:1]:
            for key, value in data.items():
                if key not in named and re.search(pattern, str(key)):
                    yield from mutants_of(
                        kind, source, value, sub, (*path, key), f"{where}.*", prefix, synthetic
                    )
    elif kind_of == "seq" and isinstance(data, list) and len(rule["sequence"]) == 1:
        for index, item in enumerate(data):
            yield from mutants_of(
                kind, source, item, rule["sequence"][0], (*path, index), f"{where}[]", prefix, synthetic
            )


# --- both sides ----------------------------------------------------------------------------------


def shipyard_verdict(
    kind: ConfigKind, source: Path, data: Any, base_warnings: set[tuple[Any, ...]]
) -> tuple[str, list[str]]:
    """shipyard's verdict, and the messages of the warnings the mutant added."""
    _, findings = validate_document(kind, Document(path=source, data=data))
    if any(f.severity is Severity.ERROR for f in findings):
        return "reject", []
    warnings = {(f.path, f.message) for f in findings if f.severity is Severity.WARNING} - base_warnings
    return ("warn" if warnings else "accept"), sorted(message for _, message in warnings)


def corpus_documents() -> list[tuple[ConfigKind, Path, Document]]:
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in SUFFIXES or "schemas" in path.parts or not path.is_file():
            continue
        try:
            document = load_document(path)
        except ConfigError:  # the one invalid JSON template; test_corpus covers it
            continue
        kind = detect_kind(document)
        assert kind is not None, path
        out.append((kind, path, document))
    return out


@dataclass
class Parity:
    corpus_rejected: dict[str, list[str]]  # corpus file -> schema errors (shipyard loads them all)
    mutants: int
    disagreements: list[tuple[Mutant, str, str]]  # (mutant, schema verdict, shipyard verdict)
    warnings: dict[int, list[str]]  # id(mutant) -> the warnings it added


def run_parity() -> Parity:
    schema = SchemaValidator()
    rejected: dict[str, list[str]] = {}
    chosen: dict[tuple[Any, ...], Mutant] = {}
    bases: dict[Path, tuple[Any, set[tuple[Any, ...]]]] = {}
    candidates: list[Mutant] = []
    for kind, path, document in corpus_documents():
        errors = schema.errors(kind, copy.deepcopy(document.data))
        if errors:
            rejected[str(path.relative_to(CORPUS))] = errors
            continue  # mutants come from files both sides accept
        _, findings = validate_document(kind, document)
        bases[path] = (document.data, {(f.path, f.message) for f in findings if f.severity is Severity.WARNING})
        candidates.extend(mutants_of(kind, path, document.data, schema.schemas[kind]))
    # one mutant per (schema node, fault, value): the first on a real value, else the one that
    # inserts the least
    for mutant in sorted(candidates, key=lambda m: (m.synthetic, len(m.ops))):
        key = (mutant.kind, mutant.where, mutant.fault, repr(mutant.ops[-1][2]) if mutant.fault != "insert" else "")
        chosen.setdefault(key, mutant)
    disagreements = []
    added: dict[int, list[str]] = {}
    for mutant in chosen.values():
        data, base_warnings = bases[mutant.source]
        mutated = mutant.apply(data)
        theirs = "reject" if schema.errors(mutant.kind, copy.deepcopy(mutated)) else "accept"
        ours, added[id(mutant)] = shipyard_verdict(mutant.kind, mutant.source, mutated, base_warnings)
        if (theirs == "reject") != (ours == "reject"):
            disagreements.append((mutant, theirs, ours))
    return Parity(rejected, len(chosen), disagreements, added)


@pytest.fixture(scope="module")
def parity() -> Parity:
    return run_parity()


def explanation(mutant: Mutant, ours: str) -> Known | None:
    for known in KNOWN:
        # "[]" (a sequence item) is literal in KNOWN's globs
        where, glob = mutant.where.replace("[]", "#"), known.where.replace("[]", "#")
        if known.fault in ("*", mutant.fault) and fnmatchcase(where, glob) and known.shipyard == ours:
            return known
    return None


def test_the_corpus_files_the_schema_rejects_are_the_listed_ones(parity: Parity) -> None:
    assert sorted(parity.corpus_rejected) == sorted(KNOWN_CORPUS), parity.corpus_rejected


def test_every_disagreement_on_a_mutant_is_explained(parity: Parity) -> None:
    assert parity.mutants > 1000  # the generator reaches every corner of the schemas
    unexplained = [
        f"{m.label()}: schema {theirs}s, shipyard {ours}s"
        for m, theirs, ours in parity.disagreements
        if explanation(m, ours) is None
    ]
    assert unexplained == [], f"{len(unexplained)} unexplained:\n" + "\n".join(unexplained)


def test_a_misspelled_key_is_named_with_the_key_it_misspells(parity: Parity) -> None:
    misspelled = [(m, ours) for m, _, ours in parity.disagreements if m.fault == "misspell"]
    assert len(misspelled) > 300
    wrong = []
    for mutant, ours in misspelled:
        (_, path, typo) = mutant.ops[-1]
        expected = f"unknown key {typo}; did you mean {path[-1]}?"
        if ours != "warn" or expected not in parity.warnings[id(mutant)]:
            wrong.append(f"{mutant.label()}: {ours} {parity.warnings[id(mutant)]}")
    assert wrong == []


def test_every_known_disagreement_still_happens(parity: Parity) -> None:
    used = {id(explanation(m, ours)) for m, _, ours in parity.disagreements}
    stale = [k for k in KNOWN if id(k) not in used]
    assert stale == []
