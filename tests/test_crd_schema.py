"""Custom resource pruning, defaulting and validation, with kube-apiserver's messages and paths."""

from __future__ import annotations

import pytest

from timoneiro.api.crd_schema import prune_default_validate

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                "image": {"type": "string", "enum": ["a", "b"]},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "name": {"type": "string", "minLength": 2, "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": True},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                "step": {"type": "number", "multipleOf": 0.5},
                "count": {"type": "integer", "format": "int32"},
                "when": {"type": "string", "format": "date-time"},
                "odd": {"type": "string", "format": "no-such-format"},
                "note": {"type": "string", "nullable": True},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2,
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                          "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "policy": {"type": "object", "default": {"mode": "auto", "junk": 1},
                           "properties": {"mode": {"type": "string"}, "level": {"type": "integer", "default": 3}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "uniq": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
                "selector": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
                "either": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                           "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
                "word": {"type": "string", "not": {"enum": ["bad"]}},
                "choice": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                           "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}
BASE = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x", "namespace": "ns"}}


def run(spec: dict, old_spec: dict | None = None, schema: dict = SCHEMA):
    obj = {**BASE, "spec": spec}
    if old_spec is None:
        return prune_default_validate(obj, schema)
    return prune_default_validate(obj, schema, {**BASE, "spec": old_spec})


def messages(spec: dict, **kw) -> list[str]:
    return [str(e) for e in run(spec, **kw)[1]]


OK = {"cronSpec": "* * * * */5"}


def test_valid_object_passes_and_is_defaulted():
    out, errs, unknown = run(dict(OK))
    assert errs == [] and unknown == []
    assert out["spec"]["replicas"] == 1
    assert out["metadata"] == BASE["metadata"] and out["apiVersion"] == BASE["apiVersion"]


def test_input_is_not_mutated():
    spec = {**OK, "bogus": 1}
    run(spec)
    assert spec == {**OK, "bogus": 1}


@pytest.mark.parametrize(("spec", "expected"), [
    ({"replicas": "string"}, 'spec.replicas: Invalid value: "string": '
                             'spec.replicas in body must be of type integer: "string"'),
    ({"replicas": 20}, "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"),
    ({"replicas": 0}, "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"),
    ({"image": "x"}, 'spec.image: Unsupported value: "x": supported values: "a", "b"'),
    ({"name": "x"}, 'spec.name: Invalid value: "x": spec.name in body should be at least 2 chars long'),
    ({"name": "toolong"}, "spec.name: Too long: may not be more than 5 bytes"),
    ({"port": True}, 'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'),
    ({"ratio": -1.5}, "spec.ratio: Invalid value: -1.5: spec.ratio in body should be greater than 0"),
    ({"step": 0.7}, "spec.step: Invalid value: 0.7: spec.step in body should be a multiple of 0.5"),
    ({"count": 3_000_000_000}, '<nil>: Invalid value: "": Checked value must be of type integer with format int32 '
                               "in spec.count"),
    ({"when": "yesterday"}, 'spec.when: Invalid value: "yesterday": '
                            'spec.when in body must be of type date-time: "yesterday"'),
    ({"tags": []}, "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"),
    ({"tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most 2 items"),
    ({"labels": {"a": "1", "b": "2", "c": "3"}}, "spec.labels: Too many: 3: must have at most 2 items"),
    ({"labels": {"a": 1}}, 'spec.labels.a: Invalid value: "integer": '
                           'spec.labels.a in body must be of type string: "integer"'),
    ({"note": 5}, 'spec.note: Invalid value: "integer": spec.note in body must be of type string: "integer"'),
    ({"uniq": [1, 2, 1]}, 'spec.uniq: Invalid value: "": spec.uniq in body shouldn\'t contain duplicates'),
    ({"selector": {}}, "spec.selector: Invalid value: 0: spec.selector in body should have at least 1 properties"),
    ({"word": "bad"}, '<nil>: Invalid value: "": "spec.word" must not validate the schema (not)'),
    ({"either": {"b": "x"}}, None),
    ({"status": 1}, None),
])
def test_value_errors(spec, expected):
    errs = messages({**OK, **spec})
    if expected is None:
        assert errs == []
    else:
        assert errs == [expected]


def test_required_and_array_item_paths():
    errs = messages({"ports": [{"port": 80}, {"name": "b", "port": "x"}]})
    assert errs == [
        "spec.ports[0].name: Required value",
        'spec.ports[1].port: Invalid value: "string": spec.ports[1].port in body must be of type integer: "string"',
        "spec.cronSpec: Required value",
    ]


def test_pattern_and_format_ignored_when_unsupported():
    assert messages({"cronSpec": "bad", "odd": "anything"}) == [
        r'spec.cronSpec: Invalid value: "bad": spec.cronSpec in body should match '
        r"'^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'"]


def test_float_for_an_integer():
    assert messages({**OK, "replicas": 2.0}) == []
    assert messages({**OK, "replicas": 2.5}) == [
        'spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number"',
        '<nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.replicas',
    ]


def test_integer_data_truncates_a_fractional_multiple_of_as_upstream_does():
    assert messages({**OK, "step": 1}) == [
        "spec.step: Invalid value: 0: factor MultipleOf declared for spec.step must be positive: 0"]


def test_null_handling():
    out, errs, _ = run({**OK, "note": None, "image": None, "replicas": None})
    assert errs == []
    assert out["spec"]["note"] is None  # nullable: kept
    assert "image" not in out["spec"]  # not nullable, no default: dropped
    assert out["spec"]["replicas"] == 1  # not nullable, defaulted


def test_one_of_errors_are_unplaced():
    assert messages({**OK, "choice": {"a": "x", "b": "y"}}) == [
        '<nil>: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). '
        "Found 2 valid alternatives"]
    assert messages({**OK, "choice": {}}) == [
        '<nil>: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). Found none valid',
        "spec.choice.a: Required value",
    ]


def test_any_of_reports_the_closest_alternative():
    assert messages({**OK, "either": {}}) == [
        '<nil>: Invalid value: "": "spec.either" must validate at least one schema (anyOf)',
        "spec.either.a: Required value",
    ]


def test_pruning_reports_unknown_fields():
    out, errs, unknown = run({**OK, "bogus": 1, "ports": [{"name": "a", "x": 1}],
                              "extra": {"free": {"deep": 1}, "known": {"a": "s", "drop": 2}}})
    assert errs == []
    assert unknown == ["spec.bogus", "spec.extra.known.drop", "spec.ports[0].x"]
    assert "bogus" not in out["spec"] and out["spec"]["ports"] == [{"name": "a"}]
    assert out["spec"]["extra"] == {"free": {"deep": 1}, "known": {"a": "s"}}


def test_root_keeps_type_and_object_meta_but_prunes_other_fields():
    obj = {**BASE, "metadata": {"name": "x", "anything": 1}, "spec": dict(OK), "junk": 1}
    out, errs, unknown = prune_default_validate(obj, SCHEMA)
    assert out["metadata"] == {"name": "x", "anything": 1}
    assert "junk" not in out and unknown == ["junk"]


def test_defaults_are_pruned_and_nested_defaults_apply():
    out, errs, _ = run(dict(OK))
    assert out["spec"]["policy"] == {"mode": "auto", "level": 3}
    out, errs, _ = run({**OK, "policy": {"mode": "manual"}})
    assert out["spec"]["policy"] == {"mode": "manual", "level": 3}


def test_embedded_resources():
    out, errs, unknown = run({**OK, "template": {"metadata": {"name": "a", "bogus": 1, "labels": {}},
                                                 "spec": {"free": True}}})
    assert unknown == ["spec.template.metadata.bogus"]
    assert out["spec"]["template"] == {"metadata": {"name": "a"}, "spec": {"free": True}}
    assert [str(e) for e in errs] == ["spec.template.apiVersion: Required value", "spec.template.kind: Required value"]
    errs = messages({**OK, "template": {"apiVersion": "a/b/c", "kind": "Bad_Kind"}})
    assert errs[0] == 'spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c'
    assert errs[1].startswith('spec.template.kind: Invalid value: "Bad_Kind": may have mixed case, but should '
                              "otherwise match: a DNS-1035 label must consist of")
    errs = messages({**OK, "template": {"apiVersion": 1, "kind": "Pod"}})
    assert errs == ["spec.template.apiVersion: Invalid value: 1: must be a string"]


def test_list_type_uniqueness():
    assert messages({**OK, "tags": ["a", "a"]}) == ['spec.tags[1]: Duplicate value: "a"']
    errs = messages({**OK, "ports": [{"name": "a"}, {"name": "a", "port": 1}]})
    assert errs == ['spec.ports[1]: Duplicate value: {"name":"a"}']


def test_ratcheting_keeps_unchanged_invalid_values():
    old = {**OK, "replicas": 20, "image": "x"}
    assert messages({**old, "name": "ok"}, old_spec=old) == []
    assert messages({**old, "replicas": 30}, old_spec=old) == [
        "spec.replicas: Invalid value: 30: spec.replicas in body should be less than or equal to 10"]
    assert messages({**OK, "replicas": 20}, old_spec=None) != []


def test_preserve_unknown_fields_at_the_root():
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
              "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string", "default": "z"}}}}}
    out, errs, unknown = prune_default_validate({**BASE, "free": 1, "spec": {}}, schema)
    assert out["free"] == 1 and out["spec"] == {"a": "z"} and unknown == [] and errs == []


@pytest.mark.parametrize(("schema", "value", "expected"), [
    ({"type": "number", "multipleOf": 2500000.5}, 1.5,
     "spec.n: Invalid value: 1.5: spec.n in body should be a multiple of 2.5000005e+06"),
    ({"type": "number", "maximum": 0.00001}, 1.5,
     "spec.n: Invalid value: 1.5: spec.n in body should be less than or equal to 1e-05"),
    ({"type": "number", "minimum": 2.0}, 1.5,
     "spec.n: Invalid value: 1.5: spec.n in body should be greater than or equal to 2"),
    ({"type": "integer", "minimum": 3}, 1,
     "spec.n: Invalid value: 1: spec.n in body should be greater than or equal to 3"),
])
def test_bounds_print_as_go_prints_numbers(schema: dict, value: float, expected: str) -> None:
    numbers = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": schema}}}}
    assert messages({"n": value}, schema=numbers) == [expected]
