"""CEL as kube-apiserver evaluates it (ValidatingAdmissionPolicy, CRD x-kubernetes-validations), on the
cel-python interpreter with the Kubernetes library functions added (library.py).

An expression is parsed once per source text (`compile_expression` caches); `Program.evaluate` takes
plain JSON-like values and raises `EvalError` with cel-go's wording for the common runtime errors."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError

from timoneiro.api.cel import library
from timoneiro.api.cel.values import from_cel, to_cel, with_schema

__all__ = ["CompileError", "EvalError", "LazyMap", "Program", "compile_expression", "from_cel", "is_true", "to_cel",
           "with_schema"]


@functools.cache
def _environment() -> celpy.Environment:
    """The CEL environment, made on first use: building its parser costs about 150 ms, which a server
    with no policy or rule never needs to pay at start."""
    return celpy.Environment()


class CompileError(Exception):
    """A syntax error, worded as cel-go reports one: `ERROR: <input>:LINE:COLUMN: Syntax error: ...`."""


class EvalError(Exception):
    """A runtime error (no such key, no such overload, division by zero, ...)."""


class Program:
    """A parsed expression, ready to be evaluated against many activations."""

    def __init__(self, source: str, runner: celpy.Runner) -> None:
        self.source = source
        self._runner = runner
        self.uses_old_self = bool(re.search(r"\boldSelf\b", source))

    def evaluate(self, activation: dict[str, Any]) -> Any:
        """The CEL value of the expression; activation values must already be CEL values (to_cel)."""
        try:
            result = self._runner.evaluate(activation)
        except celpy.CELEvalError as e:
            raise EvalError(_go_error(e)) from None
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, AttributeError) as e:
            raise EvalError(_python_error(e)) from None
        if isinstance(result, celpy.CELEvalError):
            raise EvalError(_go_error(result))
        return result


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> Program:
    """Parse once per expression text: policies and CRD versions that share a rule share its program."""
    try:
        ast = _environment().compile(source)
    except CELParseError as e:
        raise CompileError(_syntax_error(source, e)) from None
    return Program(source, _environment().program(ast, functions=library.FUNCTIONS))


def _syntax_error(source: str, e: CELParseError) -> str:
    """cel-go's report: the location, what was wrong, and the line with a caret under the spot."""
    line, column = e.line or 1, e.column or 1
    cause = e.__context__
    token = getattr(cause, "token", None)
    if token is not None:
        what = f"mismatched input '{'<EOF>' if token.type == '$END' else token}'"
    else:
        what = f"token recognition error at: '{source.splitlines()[line - 1][column - 1:column]}'"
    text = source.splitlines()[line - 1] if source.splitlines() else ""
    return f"ERROR: <input>:{line}:{column}: Syntax error: {what}\n | {text}\n | {'.' * (column - 1)}^"


def is_true(value: Any) -> bool:
    return isinstance(value, celtypes.BoolType) and bool(value)


_NO_KEY = re.compile(r"no such member in mapping: '(.*)'")
# cel-go's words for the runtime errors whose Python causes cel-python keeps
_BY_CAUSE: dict[type, str] = {ZeroDivisionError: "division by zero", IndexError: "index out of range",
                              TypeError: "no such overload"}


def _go_error(err: celpy.CELEvalError) -> str:
    message = str(err.args[0]) if err.args else ""
    cause = err.args[1] if len(err.args) > 1 else None
    if message.startswith("undeclared reference"):
        name = re.search(r"'([^']*)'", message)
        return f"undeclared reference to '{name.group(1) if name else ''}'"
    if m := _NO_KEY.search(message):
        return f"no such key: {m.group(1)}"
    if cause is KeyError and err.args[2:] and err.args[2]:
        return f"no such key: {err.args[2][0]}"
    if "overload" in message:
        return _BY_CAUSE[TypeError]
    if isinstance(cause, type) and issubclass(cause, tuple(_BY_CAUSE)):
        return _python_error(cause())
    return message


def _python_error(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"no such key: {e.args[0] if e.args else ''}"
    return next((words for cause, words in _BY_CAUSE.items() if isinstance(e, cause)), str(e))


class LazyMap(celtypes.MapType):
    """`variables`: each composition variable is evaluated on first use and then remembered."""

    def __init__(self, resolve: Callable[[str], Any], names: set[str]) -> None:
        super().__init__()
        self._resolve = resolve
        self._names = names

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __missing__(self, key: str) -> Any:
        if key not in self._names:
            raise KeyError(key)
        value = self._resolve(str(key))
        self[celtypes.StringType(key)] = value
        return value
