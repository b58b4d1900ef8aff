"""What kube-apiserver does to a custom object with its CRD version's structural schema.

In upstream's order: decoding prunes unknown fields, drops disallowed nulls and coerces embedded
ObjectMeta, then applies defaults; validation then checks the schema, embedded resources, list-type
uniqueness and, unless those errors block them, the x-kubernetes-validations rules. ObjectMeta at the
root is the caller's to validate.
"""

from __future__ import annotations

import copy

from timoneiro.api.crd_schema import defaults, embedded, listtypes, prune, rules
from timoneiro.api.crd_schema.validate import MISSING, validate
from timoneiro.api.field import FieldError


def prune_default_validate(obj: dict, schema: dict, old: dict | None = None
                           ) -> tuple[dict, list[FieldError], list[str]]:
    """Returns the pruned and defaulted copy of obj, its validation errors, and the unknown fields
    pruned on the way in ("spec.foo", as upstream's `unknown field "spec.foo"` and decoding.prune name
    them), which fieldValidation=Warn reports and Strict rejects.

    With the old object of an update, errors inside values the update left unchanged are ratcheted
    away, as CRDValidationRatcheting does.
    """
    out = copy.deepcopy(obj)
    unknown = prune.prune(out, schema)
    prune.drop_nulls(out, schema)
    errors, unknown_meta = embedded.coerce(out, schema)
    unknown += unknown_meta
    if errors:
        return out, errors, unknown
    defaults.apply(out, schema)
    errors = validate(out, schema, MISSING if old is None else old)
    errors += embedded.validate(out, schema)
    errors += listtypes.validate(out, schema)
    if rules.has_rules(schema):
        blocked = any(e.type in rules.BLOCKING for e in errors)
        errors += [rules.NOT_CHECKED] if blocked else rules.validate(out, schema, MISSING if old is None else old)
    return out, errors, unknown
