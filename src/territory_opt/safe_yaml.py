"""Load one YAML document from an untrusted source (scenario, sweep file, HTTP upload) safely.

``yaml.safe_load`` stops code execution but not these, which this loader closes:

- **alias bombs** ("billion laughs"): aliases are fine, but the size of the document with every
  alias expanded is counted on the composed node graph (memoised per node, so linear in the text)
  before any Python object is built, and refused above ``max_nodes``; so is a recursive alias;
- **deep nesting**: refused beyond ``max_depth`` while composing, long before a RecursionError;
- **duplicate keys**, which YAML keeps silently as the last one (merge keys ``<<`` are exempt);
- **YAML 1.1 guesses**: plain scalars follow the YAML 1.2 core schema, so ``NO``, ``on``, ``yes``
  stay strings, ``1:30`` and dates stay strings, ``1e5`` is a float and ``0x1F`` an int.
  Deliberate departure: a decimal with a leading zero (``0123``, ZIP codes, ids) stays a
  *string*, where YAML 1.2 would read 123 (``!!int 0123`` gives 123);
- **huge integers**: more than ``MAX_INT_DIGITS`` digits are refused without calling ``int``;
- **explicit tags** other than the core ``!!str/int/float/bool/null/seq/map`` (``!!python/...``,
  ``!!binary``, ``!!timestamp``, ``!!set``...) and a second document in the stream are refused.

The size cap counts every node, aliased or not, so a very large alias-free document is refused
too. Syntax errors propagate as PyYAML's own ``MarkedYAMLError`` subclasses.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.events import AliasEvent, Event, MappingStartEvent, SequenceStartEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 30

_CORE = "tag:yaml.org,2002:"
_MERGE = _CORE + "merge"
_INT = re.compile(r"(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_ANY_INT = re.compile(r"([-+]?)([0-9]+)\Z|0o([0-7]+)\Z|0x([0-9a-fA-F]+)\Z")  # for !!int
# Pure digit strings are ints or (with a leading zero) strings, never floats: a dot or an
# exponent is required.
_FLOAT = re.compile(r"""(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z""", re.X)


class YamlRefused(yaml.MarkedYAMLError):
    """A well-formed YAML document this loader will not build; ``problem`` says why."""

    def __init__(self, problem: str, problem_mark: Mark | None = None,
                 context: str | None = None, context_mark: Mark | None = None) -> None:
        super().__init__(context, context_mark, problem, problem_mark)

    def __str__(self) -> str:
        # The problem names any other line; a second snippet would only make the text longer.
        return "\n".join(str(part) for part in (self.problem, self.problem_mark) if part)


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _text(loader: SafeConstructor, node: Node) -> str:
    if not isinstance(node, ScalarNode):
        raise YamlRefused(f"the tag {_tag(node.tag)} needs a plain value", node.start_mark)
    return node.value  # type: ignore[no-any-return]


def _tag(tag: str) -> str:
    return _short("!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag).strip("'\"")


def _int(loader: SafeConstructor, node: Node) -> int:
    text = _text(loader, node)
    match = _ANY_INT.match(text)
    if not match:
        raise YamlRefused(f"{_short(text)} is not an integer", node.start_mark)
    sign, decimal, octal, hexa = match.groups()
    digits, base = (decimal, 10) if decimal else (octal, 8) if octal else (hexa, 16)
    if len(digits) > MAX_INT_DIGITS:  # int() of a huge string is slow, then a ValueError
        raise YamlRefused(f"an integer of {len(digits):,} digits; at most {MAX_INT_DIGITS}",
                          node.start_mark)
    return int((sign or "") + digits, base)


def _float(loader: SafeConstructor, node: Node) -> float:
    text = _text(loader, node)
    if not (_FLOAT.match(text) or re.fullmatch(r"[-+]?[0-9]+", text)):
        raise YamlRefused(f"{_short(text)} is not a number", node.start_mark)
    if text.lower().endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    return math.nan if text.lower() == ".nan" else float(text)


def _bool(loader: SafeConstructor, node: Node) -> bool:
    text = _text(loader, node)
    if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
        raise YamlRefused(f"{_short(text)} is not true or false", node.start_mark)
    return text.lower() == "true"


def _null(loader: SafeConstructor, node: Node) -> None:
    if _text(loader, node) not in ("", "~", "null", "Null", "NULL"):
        raise YamlRefused(f"{_short(node.value)} is not null", node.start_mark)


def _refuse_tag(loader: SafeConstructor, node: Node) -> None:
    raise YamlRefused(f"an explicit tag {_tag(node.tag)} is not supported", node.start_mark)


def _core_resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """YAML 1.2 core schema for plain scalars, keyed by first character as PyYAML expects."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, firsts in (
        ("bool", re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z"), list("tTfF")),
        ("null", re.compile(r"(?:~|null|Null|NULL|)\Z"), [*"~nN", ""]),
        ("int", _INT, list("-+0123456789")),  # before float: a plain "12" is an int
        ("float", _FLOAT, list("-+.0123456789")),
        ("merge", re.compile(r"<<\Z"), ["<"]),
    ):
        for first in firsts:
            table.setdefault(first, []).append((_CORE + tag, pattern))
    return table


class _Loader(yaml.SafeLoader):
    # Own tables, so yaml.SafeLoader (used elsewhere) keeps its YAML 1.1 behaviour untouched.
    yaml_implicit_resolvers = _core_resolvers()
    yaml_constructors: ClassVar[dict[str | None, Any]] = {
        _CORE + "str": SafeConstructor.construct_yaml_str,
        _CORE + "seq": SafeConstructor.construct_yaml_seq,
        _CORE + "map": SafeConstructor.construct_yaml_map,
        _MERGE: SafeConstructor.construct_yaml_str,  # `a: <<` as a value is just text
        _CORE + "int": _int, _CORE + "float": _float, _CORE + "bool": _bool,
        _CORE + "null": _null, None: _refuse_tag,
    }

    def __init__(self, text: str, max_nodes: int, max_depth: int) -> None:
        super().__init__(text)
        self.max_nodes, self.max_depth = max_nodes, max_depth
        self.depth = 0
        self.first_alias: Mark | None = None
        self.expanded = 0

    def _event(self, take: bool = False) -> Event:
        event: Event = self.get_event() if take else self.peek_event()  # type: ignore[no-untyped-call]
        return event

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self._event()
        mark = cast(Mark, event.start_mark)  # the pure-Python reader's Mark
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and target.end_mark is None:  # still being composed
                name = _short(str(event.anchor), 40).strip("'\"")
                raise YamlRefused(f"a recursive alias: *{name} is used inside &{name} itself", mark)
            self.first_alias = self.first_alias or mark
            return super().compose_node(parent, index)
        nests = isinstance(event, SequenceStartEvent | MappingStartEvent)
        self.depth += nests
        if self.depth > self.max_depth:  # the composer recurses: stop well before Python does
            raise YamlRefused(f"the document nests deeper than {self.max_depth} levels", mark)
        node = super().compose_node(parent, index)
        self.depth -= nests
        if isinstance(node, MappingNode):
            self._check_keys(node)
        return node

    def _check_keys(self, node: MappingNode) -> None:
        seen: dict[Any, Node] = {}
        for key, _ in node.value:
            if key.tag == _MERGE:  # overriding merged values is the point of `<<`
                continue
            if not isinstance(key, ScalarNode):
                raise YamlRefused("a mapping key must be a plain value, not a list or mapping",
                                  key.start_mark)
            value = self.construct_object(key)  # compare values: `1` and `0x1` are one key
            if value in seen:
                first = seen[value].start_mark
                raise YamlRefused(f"duplicate key {_short(key.value)} (first at line "
                                  f"{first.line + 1})", key.start_mark, "first given here", first)
            seen[value] = key

    def get_single_node(self) -> Node | None:
        self._event(take=True)  # stream start
        root = None if self.check_event(StreamEndEvent) else self.compose_document()
        if not self.check_event(StreamEndEvent):
            raise YamlRefused("a file must hold one YAML document; a second one starts here",
                              cast(Mark, self._event(take=True).start_mark))
        self._event(take=True)  # stream end
        if root is not None:
            self.expanded = self._measure(root, {}, 0)[0]
        return root

    def _measure(self, node: Node, memo: dict[int, tuple[int, int]], level: int) -> tuple[int, int]:
        """Return (nodes, nesting) of ``node`` with aliases expanded; refuse over the limits.

        Memoised on node identity, so a bomb costs its distinct nodes, not its expansion; the
        composer already refused cycles. ``level`` counts the collections above ``node``.
        """
        collection = not isinstance(node, ScalarNode)
        # Before recursing, so this recursion stays short; after a memo hit, for shared nodes.
        if (collection and level >= self.max_depth) or (
                level + memo.get(id(node), (0, 0))[1] > self.max_depth):
            raise YamlRefused(f"the document nests deeper than {self.max_depth} levels through "
                              "its aliases", self.first_alias or node.start_mark)
        if id(node) not in memo:
            if isinstance(node, SequenceNode):
                kids = list(node.value)
            elif isinstance(node, MappingNode):
                kids = [part for pair in node.value for part in pair]
            else:
                kids = []
            sizes = [self._measure(kid, memo, level + 1) for kid in kids]
            memo[id(node)] = (1 + sum(s for s, _ in sizes),
                              collection + max((d for _, d in sizes), default=0))
        size, nesting = memo[id(node)]
        if size > self.max_nodes:
            through = " through its aliases (&anchor/*alias)" if self.first_alias else ""
            raise YamlRefused(f"the document expands to more than {self.max_nodes:,} nodes"
                              f"{through}", self.first_alias or node.start_mark)
        return size, nesting


def load(text: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one YAML document safely into plain Python (dict, list, str, int, float, bool, None).

    ``max_depth`` must stay far below Python's recursion limit: PyYAML's composer recurses.

    Raises
    ------
    YamlRefused
        For the threats listed in the module docstring, marked where the problem is.
    yaml.YAMLError
        For syntax errors, as ``yaml.safe_load`` would.
    """
    loader = _Loader(text, max_nodes, max_depth)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def expanded_size(text: str) -> int:
    """Return how many nodes ``text`` holds with every alias expanded (0 for an empty text)."""
    loader = _Loader(text, max_nodes=2**62, max_depth=MAX_DEPTH)
    try:
        loader.get_single_node()
        return loader.expanded
    finally:
        loader.dispose()
