"""Request bodies read strictly: JSON without duplicate keys, NaN, runaway nesting or huge numbers,
and validation errors that never echo an unbounded or non-JSON value.

Python's :func:`json.loads` keeps the last of duplicate keys without a word, accepts ``NaN`` and
``Infinity`` (which then pass ``gt=0`` checks and cannot be written back as JSON), and fails on
a 5,000-digit integer or 100,000 nested brackets with errors FastAPI turns into 400 or 500.
:class:`StrictJSONRoute` parses bodies with :func:`strict_json` instead, and
:func:`validation_error_response` renders FastAPI's 422 list with every ``input`` bounded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from territory_opt.text import bounded_repr

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects in a body (a scenario needs about six)."""

MAX_NUMBER_DIGITS = 30



class BodyError(ValueError):
    """A body that is well-formed JSON but not one this service reads; ``field`` names where."""

    def __init__(self, field: str, found: str, expected: str) -> None:
        self.field, self.found, self.expected = field, found, expected
        super().__init__(f"{field}: found {found}; expected {expected}")


def strict_json(data: bytes | str) -> Any:
    """Parse a JSON body, refusing what :func:`json.loads` lets through.

    Raises
    ------
    BodyError
        Duplicate keys (naming the key), ``NaN``/``Infinity``, numbers of more than
        :data:`MAX_NUMBER_DIGITS` digits, nesting deeper than :data:`MAX_DEPTH`.
    json.JSONDecodeError
        Malformed JSON.
    """
    try:
        value = json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant,
                           parse_int=_bounded_int, parse_float=_bounded_float)
    except RecursionError:
        raise BodyError("body", "nesting deeper than Python can parse",
                        f"at most {MAX_DEPTH} levels of arrays and objects") from None
    depth = _depth(value)
    if depth > MAX_DEPTH:
        raise BodyError("body", f"{depth} levels of nested arrays and objects",
                        f"at most {MAX_DEPTH}")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BodyError(f"key {bounded_repr(key)}", "it twice in one object",
                            "each key once (JSON readers disagree on which copy wins)")
        out[key] = value
    return out


def _no_constant(name: str) -> float:
    raise BodyError("body", name, "finite numbers (JSON has no NaN or Infinity)")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise BodyError("body", f"an integer of {len(text.lstrip('-')):,} digits",
                        f"at most {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > 4 * MAX_NUMBER_DIGITS:
        raise BodyError("body", f"a number of {len(text):,} characters",
                        f"at most {4 * MAX_NUMBER_DIGITS}")
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise BodyError("body", bounded_repr(text), "a finite number")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the value may be deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:  # no need to look deeper than the limit
                children = node.values() if isinstance(node, dict) else node
                stack.extend((child, level + 1) for child in children)
    return deepest


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = strict_json(await self.body())
            except BodyError as exc:
                # FastAPI turns any other exception from here into a bare 400.
                raise HTTPException(422, detail=invalid_request(exc.field, exc.found,
                                                                exc.expected)) from None
        return self._json


class StrictJSONRoute(APIRoute):
    """An :class:`APIRoute` whose JSON bodies go through :func:`strict_json`; a refused body
    is a 422 naming the field, like any other invalid request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict_handler


def invalid_request(field: str, found: str, expected: str) -> dict[str, Any]:
    """The ``detail`` of a 422 for a request (not a scenario) the service refuses, in the
    service's problem format."""
    message = f"request: {field}: found {found}; expected {expected}"
    return {"kind": "invalid request", "message": "invalid request:\n  - " + message,
            "problems": [{"where": "request", "field": field, "found": found,
                          "expected": expected, "message": message}]}


async def validation_error_response(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 list (``type``, ``loc``, ``msg``, ``input``), every ``input`` bounded and
    JSON-safe: the default handler echoes inputs whole and fails on NaN with a 500."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"type": e.get("type"), "loc": [str(part) for part in e.get("loc", ())],
               "msg": str(e.get("msg", "")), "input": _safe(e.get("input"))}
              for e in exc.errors()[:20]]
    return JSONResponse(status_code=422, content={"detail": errors})


def _safe(value: Any) -> Any:
    """``value`` as is when it is a small JSON scalar, else a bounded text of it."""
    if value is None or (isinstance(value, bool | int) and abs(value) < 10**MAX_NUMBER_DIGITS):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and len(value) <= 200:
        return value
    return bounded_repr(value)
