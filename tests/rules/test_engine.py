"""The one rule engine, on a subject of its own: skips, many outcomes or none, and a rule that raises."""

from __future__ import annotations

from collections.abc import Iterator

from shipyard.results import Location, Outcome, Severity, Status
from shipyard.rules.base import Rule
from shipyard.rules.context import PoolContext
from shipyard.rules.engine import evaluate_rule, evaluate_rules

POOL = PoolContext()


def words(subject: str, pool: PoolContext) -> Iterator[Outcome]:
    """One problem per word that is not lower case, each at its own place."""
    for index, word in enumerate(subject.split()):
        if word != word.lower():
            yield Outcome.bad(f"{word} is not lower case", Location("words.txt", 1, f"words[{index}]"))


LOWER = Rule("text.lower", Severity.ERROR, "every word is lower case", "lower it", words)


def test_a_rule_with_several_outcomes_gives_one_result_each_with_its_location() -> None:
    results = evaluate_rule(LOWER, "a Bb c Dd", POOL)
    assert [(r.id, r.status, r.message) for r in results] == [
        ("text.lower", Status.FAIL, "Bb is not lower case"),
        ("text.lower", Status.FAIL, "Dd is not lower case"),
    ]
    assert [r.location for r in results] == [Location("words.txt", 1, "words[1]"), Location("words.txt", 1, "words[3]")]
    assert all(r.fix == "lower it" for r in results)


def test_a_rule_that_yields_nothing_passes_once() -> None:
    [result] = evaluate_rule(LOWER, "all lower", POOL)
    assert (result.status, result.message, result.location) == (Status.PASS, "every word is lower case", None)


def test_a_rule_that_returns_one_outcome_gives_one_result() -> None:
    one = Rule("text.short", Severity.ERROR, "short", "shorten", lambda s, p: Outcome.ok(f"{len(s)} characters"))
    assert [(r.status, r.message) for r in evaluate_rule(one, "abc", POOL)] == [(Status.PASS, "3 characters")]


def test_applies_skips_with_its_reason_and_evaluate_does_not_run() -> None:
    def never(subject: str, pool: PoolContext) -> Outcome:
        raise AssertionError("a skipped rule must not be evaluated")

    rule = Rule("text.never", Severity.ERROR, "r", "f", never, applies=lambda s, p: "no text" if not s else None)
    [result] = evaluate_rule(rule, "", POOL)
    assert (result.status, result.message, result.skip_reason) == (Status.SKIP, "skipped: no text", "no text")
    [result] = evaluate_rules([rule], "text", POOL, skip=["text.never"])
    assert (result.status, result.message) == (Status.SKIP, "skipped: --skip-check")


def test_a_rule_that_raises_becomes_one_error_that_names_it_and_the_others_still_run() -> None:
    def explode(subject: str, pool: PoolContext) -> Iterator[Outcome]:
        yield Outcome.bad("first")
        raise KeyError("token https://a.blob.core.windows.net/c/b?sig=Secret")

    broken = Rule("text.broken", Severity.WARNING, "r", "f", explode)
    results = evaluate_rules([LOWER, broken, LOWER], "Aa", POOL)
    assert [r.id for r in results] == ["text.lower", "text.broken", "text.lower"]
    error = results[1]
    assert (error.status, error.severity) == (Status.FAIL, Severity.ERROR)  # an error even for a warning-level rule
    assert error.message.startswith("rule text.broken raised KeyError: ")
    assert "Secret" not in error.message


def test_applies_that_raises_is_an_error_too() -> None:
    def bad_applies(subject: str, pool: PoolContext) -> str | None:
        raise ValueError("no")

    [result] = evaluate_rule(Rule("text.applies", Severity.ERROR, "r", "f", words, bad_applies), "x", POOL)
    assert result.status is Status.FAIL and result.message == "rule text.applies raised ValueError: no"


def test_a_warning_level_rule_warns_and_an_error_level_rule_may_warn() -> None:
    lenient = Rule("text.lenient", Severity.WARNING, "r", "f", words)
    assert [(r.status, r.severity) for r in evaluate_rule(lenient, "Aa", POOL)] == [(Status.WARN, Severity.WARNING)]
    caveat = Rule("text.caveat", Severity.ERROR, "r", "f", lambda s, p: [Outcome.warn("mind this")])
    assert [(r.status, r.severity) for r in evaluate_rule(caveat, "x", POOL)] == [(Status.WARN, Severity.WARNING)]
