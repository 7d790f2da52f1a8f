"""Links between model quantities, written the way a spectroscopist says them.

``"quantity(name) = expression"``: the left side is one quantity of one component, the right
side numbers, ``quantity(name)`` terms (``quantity(name)[k]`` for spectrum ``k`` of a series),
``+ - * /`` and parentheses. A small tokenizer and recursive-descent parser check the text and
turn it into an lmfit expression; nothing is evaluated as Python code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import lmfit

from .compiled import _Q
from .model import _norm_name

_NUM = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_LINK_FORM = ("expected 'quantity(component) = expression', e.g. 'fwhm(A) = fwhm(B)' or "
              "'center(B) = center(A) + 1.5' (numbers, quantity(component) terms, + - * / and parentheses)")


class _LinkError(ValueError):
    pass


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    toks: list[tuple[str, Any, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        m = _NUM.match(text, i)
        if m:
            toks.append(("num", m.group(0), i))
            i = m.end()
            continue
        m = _IDENT.match(text, i)
        if m:
            j = m.end()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != "(":
                raise _LinkError(f"{m.group(0)!r} at position {i} is not followed by '(component name)'")
            depth, k = 1, j + 1
            while k < n and depth:
                depth += {"(": 1, ")": -1}.get(text[k], 0)
                k += 1
            if depth:
                raise _LinkError(f"unclosed '(' after {m.group(0)!r}")
            name = _norm_name(text[j + 1:k - 1])
            if not name:
                raise _LinkError(f"empty component name in {m.group(0)}()")
            idx = None
            mi = re.match(r"\s*\[\s*(\d+)\s*\]", text[k:])
            if mi:
                idx = int(mi.group(1))
                k += mi.end()
            toks.append(("ref", (m.group(0), name, idx), i))
            i = k
            continue
        if c == "=" and i + 1 < n and text[i + 1] == "=":
            raise _LinkError("'==' found; a link is written with a single '='")
        if c in "+-*/()=":
            if c == "*" and i + 1 < n and text[i + 1] == "*":
                raise _LinkError("'**' (power) is not allowed")
            toks.append(("op", c, i))
            i += 1
            continue
        raise _LinkError(f"unexpected character {c!r} at position {i}")
    return toks


class _ExprParser:
    """Recursive descent over + - * / ( ) numbers and references; emits an lmfit expression."""

    def __init__(self, toks, resolve):
        self.toks, self.pos, self.resolve = toks, 0, resolve
        self.params: set[str] = set()

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        t = self.peek()
        self.pos += 1
        return t

    def expr(self) -> str:
        s = self.term()
        while (t := self.peek()) is not None and t[0] == "op" and t[1] in "+-":
            self.take()
            s = f"{s} {t[1]} {self.term()}"
        return s

    def term(self) -> str:
        s = self.factor()
        while (t := self.peek()) is not None and t[0] == "op" and t[1] in "*/":
            self.take()
            s = f"{s} {t[1]} {self.factor()}"
        return s

    def factor(self) -> str:
        t = self.take()
        if t is None:
            raise _LinkError("the expression ends too early")
        kind, val, pos = t
        if kind == "op" and val in "+-":
            return f"({val}{self.factor()})"
        if kind == "num":
            return repr(float(val))
        if kind == "ref":
            q = self.resolve(*val)
            self.params |= _expr_names(q.expr)
            return f"({q.expr})"
        if kind == "op" and val == "(":
            s = self.expr()
            t2 = self.take()
            if t2 is None or t2[1] != ")":
                raise _LinkError(f"missing ')' for the '(' at position {pos}")
            return f"({s})"
        raise _LinkError(f"unexpected {val!r} at position {pos}: expected a number, quantity(component) or '('")


def _expr_names(expr: str) -> set[str]:
    return set(_IDENT.findall(expr)) - {"e"}


def _parse_link(text: str, resolve: Callable[[str, str, int | None], _Q]) -> tuple[_Q, str, set[str]]:
    """Parse ``lhs = rhs``; return (lhs quantity, lmfit expression of rhs, parameters it uses)."""
    if not isinstance(text, str):
        raise ValueError(f"link {text!r}: a link is a string; {_LINK_FORM}")
    try:
        toks = _tokenize(text)
        eq = [k for k, t in enumerate(toks) if t[0] == "op" and t[1] == "="]
        if len(eq) != 1:
            raise _LinkError("no '=' found" if not eq else "more than one '='")
        lhs, rhs = toks[:eq[0]], toks[eq[0] + 1:]
        if len(lhs) != 1 or lhs[0][0] != "ref":
            raise _LinkError("the left side must be a single quantity(component)")
        if not rhs:
            raise _LinkError("nothing on the right of '='")
        target = resolve(*lhs[0][1])
        if target.param is None:
            raise _LinkError(f"{lhs[0][1][0]}({lhs[0][1][1]}) is derived from other parameters "
                             "(a doublet's minor line follows its major line: link the doublet's "
                             "center/fwhm/area or its splitting, area_ratio, fwhm_ratio instead)")
        p = _ExprParser(rhs, resolve)
        expr = p.expr()
        if p.peek() is not None:
            raise _LinkError(f"unexpected {p.peek()[1]!r} at position {p.peek()[2]} after a complete expression")
        if target.param in p.params:
            raise _LinkError("the left side appears on the right side")
    except ValueError as err:  # _LinkError and unknown names/quantities from resolve
        raise ValueError(f"link {text!r}: {err}; {_LINK_FORM}") from None
    return target, expr, p.params


def _check_cycles(params: lmfit.Parameters):
    deps = {n: _expr_names(p.expr) & set(params) for n, p in params.items() if p.expr}
    state: dict[str, int] = {}

    def visit(n, path):
        if state.get(n) == 2 or n not in deps:
            return
        if state.get(n) == 1:
            raise ValueError(f"the links form a loop: {' -> '.join([*path, n])}")
        state[n] = 1
        for d in deps[n]:
            visit(d, [*path, n])
        state[n] = 2

    for n in deps:
        visit(n, [])


def _free_dependencies(params: lmfit.Parameters) -> dict[str, set[str]]:
    """Free parameters on which each parameter depends (itself when free)."""
    memo: dict[str, set[str]] = {}

    def deps(n, seen=()):
        if n in memo:
            return memo[n]
        p = params[n]
        if p.expr:
            out = set()
            for m in _expr_names(p.expr) & set(params):
                if m not in seen:
                    out |= deps(m, (*seen, n))
        else:
            out = {n} if p.vary else set()
        memo[n] = out
        return out

    return {n: deps(n) for n in params}

