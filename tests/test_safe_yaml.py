"""The safe YAML loader: alias bombs, depth, duplicate keys, YAML 1.2 scalars, tags, big ints."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pytest
import yaml

from territory_opt.safe_yaml import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_NODES,
    YamlRefused,
    expanded_size,
    load,
)


def _bomb(levels: int, width: int) -> str:
    """The "billion laughs": each level lists ``width`` aliases of the level before."""
    names = "abcdefghi"[:levels]
    lines = [f"a: &a [{', '.join(['lol'] * width)}]"]
    lines += [f"{name}: &{name} [{', '.join([f'*{prev}'] * width)}]"
              for prev, name in itertools.pairwise(names)]
    return "\n".join(lines) + "\n"


def _refused(text: str, **limits: int) -> YamlRefused:
    with pytest.raises(YamlRefused) as caught:
        load(text, **limits)
    return caught.value


def test_the_billion_laughs_is_refused_fast() -> None:
    text = _bomb(9, 9)
    assert len(text) < 1500
    start = time.perf_counter()
    error = _refused(text)
    assert time.perf_counter() - start < 1.0
    assert error.problem == (f"the document expands to more than {MAX_NODES:,} nodes through its "
                             "aliases (&anchor/*alias)")
    assert error.problem_mark is not None and error.problem_mark.line == 1  # the first alias
    assert isinstance(error, yaml.MarkedYAMLError)
    assert expanded_size(text) > 9**9  # counted, not walked


def test_the_cap_is_on_the_expanded_size() -> None:
    # a = [lol]*3 is 4 nodes; b = [*a]*3 is 1 + 3*4 = 13; c = [*b]*3 is 1 + 3*13 = 40;
    # the root mapping adds itself and three keys: 1 + 3 + 4 + 13 + 40 = 61.
    text = _bomb(3, 3)
    assert expanded_size(text) == 61
    assert load(text, max_nodes=61)["c"][2][1] == ["lol"] * 3
    assert "more than 60 nodes" in str(_refused(text, max_nodes=60).problem)


def test_a_large_document_without_aliases_is_refused_too() -> None:
    error = _refused("[" + ", ".join(["1"] * 20) + "]", max_nodes=20)
    assert error.problem == "the document expands to more than 20 nodes"


def test_anchors_and_merge_keys_still_work() -> None:
    text = """
defaults: &d {gap: 0.01, seed: 1}
other: &o {gap: 0.5, reps: 4}
variant: {<<: *d, seed: 3}
both:
  <<: [*d, *o]
  gap: 0.02
again: *d
"""
    data = load(text)
    assert data["variant"] == {"gap": 0.01, "seed": 3}
    assert data["both"] == {"gap": 0.02, "seed": 1, "reps": 4}
    assert data["again"] == {"gap": 0.01, "seed": 1}


@pytest.mark.parametrize("text", ["a: &a [*a]", "&a {x: [1, *a]}", "a: &a {b: {c: *a}}"])
def test_a_recursive_alias_is_refused(text: str) -> None:
    assert _refused(text).problem == "a recursive alias: *a is used inside &a itself"


def test_a_long_anchor_name_is_cut_in_the_message() -> None:
    name = "x" * 10_000
    assert len(str(_refused(f"a: &{name} [*{name}]").problem)) < 150


def test_ten_thousand_brackets_are_refused_before_a_recursion_error() -> None:
    error = _refused("[" * 10_000 + "]" * 10_000)
    assert error.problem == f"the document nests deeper than {MAX_DEPTH} levels"
    assert error.problem_mark is not None and error.problem_mark.column == MAX_DEPTH


def test_depth_limit_is_the_number_of_nested_collections() -> None:
    assert load("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH) is not None
    _refused("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert load("{a: " * 3 + "1" + "}" * 3, max_depth=3) == {"a": {"a": {"a": 1}}}
    _refused("{a: " * 4 + "1" + "}" * 4, max_depth=3)


def test_depth_through_aliases_counts() -> None:
    inner = "[" * 62 + "]" * 62  # inside the root mapping: 63 levels
    assert load(f"a: &a {inner}\nb: [*a]\n") is not None  # 1 + 1 + 62 = 64
    error = _refused(f"a: &a {inner}\nb: [[*a]]\n")  # 65
    assert error.problem == f"the document nests deeper than {MAX_DEPTH} levels through its aliases"


def test_duplicate_keys_name_both_lines() -> None:
    error = _refused("scenario:\n  name: a\n  reps: 3\n  name: b\n")
    assert error.problem == "duplicate key 'name' (first at line 2)"
    assert error.problem_mark is not None and error.problem_mark.line == 3
    assert error.context_mark is not None and error.context_mark.line == 1
    # Keys are compared as values: 1 and 0x1 are the same int key.
    assert "duplicate key '0x1'" in str(_refused("1: a\n0x1: b\n").problem)
    assert load("'1': a\n1: b\n") == {"1": "a", 1: "b"}


def test_merge_keys_are_exempt_from_the_duplicate_check() -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2}\nc:\n  <<: *a\n  <<: *b\n  x: 3\n"
    assert load(text)["c"] == {"x": 3}


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "{[a]: 1}", "? {a: 1}\n: 2\n"])
def test_a_key_that_is_not_a_plain_value_is_refused(text: str) -> None:
    assert _refused(text).problem == "a mapping key must be a plain value, not a list or mapping"


@pytest.mark.parametrize(("text", "expected"), [
    ("NO", "NO"), ("on", "on"), ("off", "off"), ("yes", "yes"), ("y", "y"), ("n", "n"),
    ("true", True), ("False", False), ("TRUE", True),
    ("0123", "0123"), ("01234", "01234"), ("-012", "-012"), ("123", 123), ("-7", -7), ("0", 0),
    ("0x1F", 31), ("0o17", 15), ("1_000", "1_000"), ("0b101", "0b101"),
    ("1e5", 100000.0), ("1.5", 1.5), ("-.5", -0.5), ("2.", 2.0), (".inf", math.inf),
    ("-.Inf", -math.inf), ("2024-13-45", "2024-13-45"), ("2024-01-05", "2024-01-05"),
    ("1:30", "1:30"), ("~", None), ("null", None), ("a:", {"a": None}), ("=", "="),
    ("!!str 0123", "0123"), ("!!int 0123", 123), ("!!float 1", 1.0), ("'true'", "true"),
])
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text: str, expected: Any) -> None:
    value = load(text)
    assert value == expected and type(value) is type(expected)


def test_nan_stays_a_float() -> None:
    assert math.isnan(load(".NaN"))


def test_yaml_safe_loader_is_untouched() -> None:
    assert yaml.safe_load("on") is True
    assert str(yaml.safe_load("2024-01-05")) == "2024-01-05"  # still a date there


def test_a_huge_integer_is_refused_fast_with_its_size() -> None:
    start = time.perf_counter()
    error = _refused("n: " + "7" * 5000)
    assert time.perf_counter() - start < 0.5
    assert error.problem == f"an integer of 5,000 digits; at most {MAX_INT_DIGITS}"
    assert error.problem_mark is not None and error.problem_mark.column == 3
    assert load("9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)
    _refused("0x" + "f" * (MAX_INT_DIGITS + 1))


@pytest.mark.parametrize(("text", "tag"), [
    ("!!python/object/apply:os.system ['echo hi']", "!!python/object/apply:os.system"),
    ("x: !!binary aGk=", "!!binary"), ("!!timestamp 2024-01-05", "!!timestamp"),
    ("!!set {a, b}", "!!set"), ("!!omap [a: 1]", "!!omap"), ("!custom 1", "!custom"),
])
def test_explicit_tags_are_refused(text: str, tag: str) -> None:
    assert _refused(text).problem == f"an explicit tag {tag} is not supported"


@pytest.mark.parametrize("text", ["!!int abc", "!!bool yes", "!!float 1_0", "!!null x"])
def test_a_core_tag_with_a_wrong_value_is_refused(text: str) -> None:
    assert str(_refused(text).problem).startswith(repr(text.split()[1]))


def test_one_document_only() -> None:
    error = _refused("a: 1\n---\nb: 2\n")
    assert str(error.problem).startswith("a file must hold one YAML document")
    assert error.problem_mark is not None and error.problem_mark.line == 1
    assert load("---\na: 1\n...\n") == {"a": 1}
    assert load("") is None
    assert load("# nothing\n") is None


def test_messages_stay_short() -> None:
    key = "k" * 100_000
    error = _refused(f"? {key}\n: 1\n? {key}\n: 2\n")  # `?`: a plain key is at most 1024 chars
    assert len(str(error.problem)) < 100
    assert len(str(error)) <= 300


def test_syntax_errors_are_pyyaml_errors() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        load("a: [1, 2\nb: 3\n")
    assert not isinstance(caught.value, YamlRefused)
    assert caught.value.problem_mark is not None


def test_nothing_is_built_from_a_refused_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count happens on the composed graph: no Python value is built past the cap (only
    mapping keys, to compare them, and a bomb has few)."""
    from territory_opt import safe_yaml

    built = 0
    construct = safe_yaml._Loader.construct_object

    def counting(self: Any, node: Any, deep: bool = False) -> Any:
        nonlocal built
        built += 1
        return construct(self, node, deep)

    monkeypatch.setattr(safe_yaml._Loader, "construct_object", counting)
    _refused(_bomb(9, 9), max_nodes=1000)
    assert 0 < built <= 9  # the nine top-level keys, nothing under them
