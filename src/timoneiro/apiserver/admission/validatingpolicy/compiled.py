"""A ValidatingAdmissionPolicy with its CEL expressions compiled once (per policy resourceVersion), and
its evaluation for one (binding, param) into decisions worded as upstream's validator words them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from celpy import celtypes

from timoneiro.api import cel
from timoneiro.api.cel.values import type_name

MAX_MESSAGE_BYTES = 5000  # celconfig.MaxEvaluatedMessageExpressionSizeBytes


@dataclass(frozen=True)
class Expression:
    source: str
    program: cel.Program | None
    error: str = ""  # "compilation error: ..." as upstream's filter reports it

    def evaluate(self, activation: dict) -> Any:
        """The value, or raise cel.EvalError with the message upstream gives the expression's failure."""
        if self.program is None:
            raise cel.EvalError(self.error)
        try:
            return self.program.evaluate(activation)
        except cel.EvalError as e:
            raise cel.EvalError(f"expression '{self.source}' resulted in error: {e}") from None


def compile_one(source: str) -> Expression:
    try:
        return Expression(source, cel.compile_expression(source))
    except cel.CompileError as e:
        return Expression(source, None, f"compilation error: {e}")


@dataclass
class Decision:
    deny: bool
    message: str = ""
    reason: str = ""


@dataclass
class Result:
    decisions: list[Decision] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)


class CompiledPolicy:
    def __init__(self, policy: dict) -> None:
        spec = policy.get("spec") or {}
        self.name: str = policy["metadata"]["name"]
        self.spec = spec
        self.fail = (spec.get("failurePolicy") or "Fail") != "Ignore"
        self.param_kind: dict | None = spec.get("paramKind")
        self.match_conditions = [(c.get("name", ""), compile_one(c.get("expression", "")))
                                 for c in spec.get("matchConditions") or []]
        self.variables = {v.get("name", ""): compile_one(v.get("expression", "")) for v in spec.get("variables") or []}
        self.validations = [(v, compile_one(v.get("expression", "")),
                             compile_one(v["messageExpression"]) if v.get("messageExpression") else None)
                            for v in spec.get("validations") or []]
        self.audit_annotations = [(a.get("key", ""), compile_one(a.get("valueExpression", "")))
                                  for a in spec.get("auditAnnotations") or []]

    def activation(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The CEL variables for one evaluation, `variables` evaluated lazily and once each."""
        activation = dict(inputs)

        def resolve(name: str) -> Any:
            try:
                return self.variables[name].evaluate(activation)
            except cel.EvalError as e:
                raise cel.EvalError(f'composited variable "{name}" fails to evaluate: {e}') from None

        activation["variables"] = cel.LazyMap(resolve, set(self.variables))
        return activation

    def matches(self, activation: dict) -> Decision | None:
        """None if the match conditions hold; else a decision: admit (a condition is false, or errors under
        Ignore) or deny (errors under Fail, aggregated as utilerrors prints them)."""
        errors: list[str] = []
        for _name, expr in self.match_conditions:
            try:
                value = expr.evaluate(activation)
            except cel.EvalError as e:
                errors.append(str(e))
                continue
            if isinstance(value, celtypes.BoolType) and not value:
                return Decision(deny=False)
        if not errors:
            return None
        if not self.fail:
            return Decision(deny=False)
        return Decision(deny=True, message=errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")

    def validate(self, activation: dict) -> Result:
        result = Result()
        gate = self.matches(activation)
        if gate is not None:
            if gate.deny:
                result.decisions.append(gate)
            return result
        for validation, expr, message_expr in self.validations:
            try:
                value = expr.evaluate(activation)
            except cel.EvalError as e:
                result.decisions.append(Decision(deny=self.fail, message=str(e)))
                continue
            if cel.is_true(value):
                continue
            message = _message(message_expr, activation) or (validation.get("message") or "").strip() \
                or f"failed expression: {expr.source.strip()}"
            result.decisions.append(Decision(deny=True, message=message, reason=validation.get("reason") or "Invalid"))
        for key, expr in self.audit_annotations:
            self._annotate(result, key, expr, activation)
        return result

    def _annotate(self, result: Result, key: str, expr: Expression, activation: dict) -> None:
        try:
            value = expr.evaluate(activation)
        except cel.EvalError as e:
            if self.fail:
                result.decisions.append(Decision(deny=True, message=str(e)))
            return
        if value is None:
            return
        if isinstance(value, str):
            if value.strip():
                result.annotations[f"{self.name}/{key}"] = value.strip()
            return
        result.decisions.append(Decision(deny=True, message=(
            f"valueExpression '{expr.source}' resulted in unsupported return type: {type_name(value)}. "
            "Return type must be either string or null.")))


def _message(expr: Expression | None, activation: dict) -> str:
    """A messageExpression's text, or "" (its failure falls back to message, as upstream's does)."""
    if expr is None:
        return ""
    try:
        value = expr.evaluate({k: v for k, v in activation.items() if k != "authorizer"})
    except cel.EvalError:
        return ""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    return "" if len(text.encode()) > MAX_MESSAGE_BYTES or "\n" in text else text

