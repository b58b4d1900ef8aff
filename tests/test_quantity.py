from fractions import Fraction

import pytest

from timoneiro.api import quantity
from timoneiro.api.quantity import Quantity, QuantityError, parse


@pytest.mark.parametrize(
    "text, value",
    [
        ("100m", Fraction(1, 10)),
        ("1Gi", Fraction(2**30)),
        ("1e3", Fraction(1000)),
        ("0.5", Fraction(1, 2)),
        ("-1.5", Fraction(-3, 2)),
        ("1.5Ki", Fraction(1536)),
        ("250M", Fraction(250_000_000)),
        ("12n", Fraction(12, 10**9)),
        ("5u", Fraction(5, 10**6)),
        ("+2", Fraction(2)),
        (".5", Fraction(1, 2)),
        ("1E-3", Fraction(1, 1000)),
        (3, Fraction(3)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_parse_values(text, value):
    assert parse(text).value == value


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("100m", "100m"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("1000m", "1"),
        ("1Gi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("1024", "1024"),
        ("1Ki", "1Ki"),
        ("1.5Ki", "1536"),
        ("1e3", "1e3"),
        ("12e2", "1200"),
        ("1500k", "1500k"),
        ("2000k", "2M"),
        ("0", "0"),
        ("0Mi", "0"),
        ("-1.5", "-1500m"),
        ("1e-10", "1e-9"),
        ("0.1n", "1n"),
        ("10k", "10k"),
    ],
)
def test_canonical_form(text, canonical):
    assert str(parse(text)) == canonical


@pytest.mark.parametrize(
    "text, message",
    [
        ("abc", quantity.ERR_FORMAT),
        ("", quantity.ERR_FORMAT),
        (".", quantity.ERR_FORMAT),
        ("1ki", quantity.ERR_SUFFIX),
        ("1K", quantity.ERR_SUFFIX),
        ("5Gb", quantity.ERR_SUFFIX),
    ],
)
def test_invalid_quantities(text, message):
    with pytest.raises(QuantityError) as e:
        parse(text)
    assert str(e.value) == message


def test_error_text_matches_the_decoder():
    assert quantity.ERR_FORMAT == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_comparisons_and_arithmetic():
    assert parse("1") == parse("1000m")
    assert parse("500m") < parse("1")
    assert parse("1Gi") > parse("1G")
    assert sorted([parse("2"), parse("100m"), parse("1Ki")]) == [parse("100m"), parse("2"), parse("1Ki")]
    assert parse("1") + parse("500m") == parse("1.5")
    assert parse("1") - parse("1500m") == parse("-500m")
    assert hash(parse("1")) == hash(parse("1000m"))


def test_scaled_values_round_up():
    assert parse("1500m").int_value() == 2
    assert parse("100m").milli_value() == 100
    assert parse("1n").milli_value() == 1
    assert parse("-1.5").int_value() == -1
    assert Quantity(Fraction(1, 3)).scaled(-3) == 334


def test_is_quantity():
    assert quantity.is_quantity("64Mi")
    assert quantity.is_quantity(2)
    assert not quantity.is_quantity("2 cores")
    assert not quantity.is_quantity(True)
