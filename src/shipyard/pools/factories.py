"""``task_factory``: one ``tasks[]`` entry expanded into many commands, as Batch Shipyard does it.

Batch Shipyard (``convoy/task_factory.py``, ``generate_task``) picks the first generator present
in this order: ``custom``, ``file``, ``repeat``, ``random``, ``parametric_sweep``; a sweep the
first of ``product``, ``product_iterables``, ``combinations``, ``permutations``, ``zip``; a
random factory ``integer``, else the first distribution of ``uniform``, ``triangular``, ``beta``,
``exponential``, ``gamma``, ``gauss``, ``lognormal``, ``pareto``, ``weibull``. Each generated
task's command is the entry's command filled by ``str.format`` with the generated values as
positional arguments (``{}`` or ``{0}``, ``{1}``, ...); ``repeat`` copies it unchanged. Strings in
``product_iterables`` and ``zip`` are iterables of their characters, as in Python. ``random``
with a ``seed`` gives Batch Shipyard's very values (a generator seeded alike: ``random.seed``).

``file`` (it lists a storage container) and ``custom`` (it imports a Python module named in the
jobs file) are not expanded here: ``expand_factory`` says so, as a ``FactoryError``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.config.keypath import KeyPath
from shipyard.config.task_factory import Distribution, ParametricSweep, RandomFactory, TaskFactory

GENERATORS = ("custom", "file", "repeat", "random", "parametric_sweep")  # Batch Shipyard's order
EXPANDED = ("repeat", "random", "parametric_sweep")
SWEEPS = ("product", "product_iterables", "combinations", "permutations", "zip")
# name -> (the random module's function, its required parameters, its optional ones)
DISTRIBUTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "uniform": ("uniform", ("a", "b"), ()),
    "triangular": ("triangular", ("low", "high"), ("mode",)),
    "beta": ("betavariate", ("alpha", "beta"), ()),
    "exponential": ("expovariate", ("lambda_",), ()),
    "gamma": ("gammavariate", ("alpha", "beta"), ()),
    "gauss": ("gauss", ("mu", "sigma"), ()),
    "lognormal": ("lognormvariate", ("mu", "sigma"), ()),
    "pareto": ("paretovariate", ("alpha",), ()),
    "weibull": ("weibullvariate", ("alpha", "beta"), ()),
}


class FactoryError(ValueError):
    """A factory that cannot be expanded; ``path`` is where, relative to the task entry."""

    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Generated:
    command: str | None
    index: int  # 0-based, in the factory's order


def generator_of(factory: TaskFactory) -> str | None:
    """The generator Batch Shipyard runs for ``factory``; None when it names none."""
    return next((name for name in GENERATORS if getattr(factory, name) is not None), None)


def expand_factory(factory: TaskFactory, command: str | None) -> list[Generated]:
    """Every task ``factory`` generates, in Batch Shipyard's order."""
    kind = generator_of(factory)
    if kind is None:
        raise FactoryError(("task_factory",), "names no generator (parametric_sweep, random or repeat): "
                                              "it would generate no task")
    where: KeyPath = ("task_factory", kind)
    if kind not in EXPANDED:
        what = {"file": "lists a storage container", "custom": "imports a Python module"}[kind]
        raise FactoryError(where, f"the {kind} task factory ({what}) is not supported: "
                                  "use parametric_sweep, random or repeat")
    if kind == "repeat":
        count = factory.repeat or 0
        return [Generated(command, index) for index in range(count)]
    if command is None:
        raise FactoryError(("command",), f"the {kind} task factory fills the command, and there is none")
    values = _random_values(factory.random, where) if kind == "random" else _sweep_values(factory.parametric_sweep)
    return [Generated(_fill(command, args, kind), index) for index, args in enumerate(values)]


def _sweep_values(sweep: ParametricSweep | None) -> Iterable[Sequence[Any]]:
    assert sweep is not None
    base: KeyPath = ("task_factory", "parametric_sweep")
    mode = next((name for name in SWEEPS if getattr(sweep, name) is not None), None)
    if mode is None:
        raise FactoryError(base, f"names no sweep ({', '.join(SWEEPS)})")
    if sweep.product is not None:
        for index, span in enumerate(sweep.product):
            if span.step == 0:
                raise FactoryError((*base, "product", index, "step"), "must not be 0")
        return itertools.product(*(range(span.start, span.stop, span.step) for span in sweep.product))
    if sweep.product_iterables is not None:
        return itertools.product(*sweep.product_iterables)
    if sweep.combinations is not None:
        combos = sweep.combinations
        iterable, length = _iterable_and_length(combos.iterable, combos.length, (*base, "combinations"))
        pick = itertools.combinations_with_replacement if combos.replacement else itertools.combinations
        return pick(iterable, length)
    if sweep.permutations is not None:
        perms = sweep.permutations
        iterable, length = _iterable_and_length(perms.iterable, perms.length, (*base, "permutations"))
        return itertools.permutations(iterable, length)
    assert sweep.zip is not None
    return zip(*sweep.zip, strict=False)


def _iterable_and_length(iterable: list[str] | None, length: int | None, where: KeyPath) -> tuple[list[str], int]:
    if iterable is None:
        raise FactoryError((*where, "iterable"), "required key is missing")
    if length is None:
        raise FactoryError((*where, "length"), "required key is missing")
    if length < 0:
        raise FactoryError((*where, "length"), f"must be >= 0, found {length}")
    return iterable, length


def _random_values(factory: RandomFactory | None, where: KeyPath) -> list[tuple[Any]]:
    assert factory is not None
    rng = random.Random(factory.seed)  # task parameters, not secrets
    draw = _draw(rng, factory, where)
    return [(draw(),) for _ in range(factory.generate)]


def _draw(rng: random.Random, factory: RandomFactory, where: KeyPath) -> Callable[[], Any]:
    if factory.integer is not None:
        span = factory.integer
        if span.step == 0 or not range(span.start, span.stop, span.step):
            raise FactoryError((*where, "integer"), f"range({span.start}, {span.stop}, {span.step}) is empty")
        return lambda: rng.randrange(span.start, span.stop, span.step)
    dist = factory.distribution
    name = next((name for name in DISTRIBUTIONS if dist is not None and getattr(dist, name) is not None), None)
    if dist is None or name is None:
        raise FactoryError(where, f"needs integer or a distribution ({', '.join(DISTRIBUTIONS)})")
    return _distribution(rng, dist, name, (*where, "distribution", name))


def _distribution(rng: random.Random, dist: Distribution, name: str, where: KeyPath) -> Callable[[], Any]:
    function, required, optional = DISTRIBUTIONS[name]
    params = getattr(dist, name)
    missing = [key.rstrip("_") for key in required if getattr(params, key) is None]
    if missing:
        raise FactoryError(where, f"needs {' and '.join(missing)}")
    args = [getattr(params, key) for key in (*required, *optional)]
    method = getattr(rng, function)
    return lambda: method(*args)


def _fill(command: str, args: Sequence[Any], kind: str) -> str:
    """``command.format(*args)``, Batch Shipyard's substitution; its failures in words."""
    try:
        return command.format(*args)
    except IndexError:
        count = len(args)
        raise FactoryError(("command",), f"has more positional placeholders than the {count} value"
                                         f"{'s' * (count != 1)} the {kind} task factory gives each task") from None
    except KeyError as exc:
        raise FactoryError(("command",), f"has the named placeholder {{{exc.args[0]}}}: the {kind} task factory "
                                         "fills positional ones only ({} or {0}, {1}, ...); write a literal brace "
                                         "as {{ or }}") from None
    except (ValueError, AttributeError, TypeError) as exc:
        raise FactoryError(("command",), f"is not a format string the {kind} task factory can fill ({exc}); "
                                         "write a literal brace as {{ or }}") from None
