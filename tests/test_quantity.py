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


@pytest.mark.parametrize(
    "value, milli, written",
    [
        ("0.5", False, "500m"),
        ("1.5Gi", False, "1536Mi"),
        (" 2048Mi ", False, "2Gi"),
        (3, False, "3"),
        (0.25, False, "250m"),
        ("0.0001", True, "1m"),
        ("-0.0001", True, "-1m"),
        ("0.0001", False, "100u"),
        # decoding caps BinarySI amounts at the largest int64, as resource.ParseQuantity does
        ("1024Ei", False, "9223372036854775807"),
        ("-9Ei", False, "-9223372036854775807"),
        ("8Ei", False, "9223372036854775807"),
        ("7Ei", False, "7Ei"),
        ("9E", False, "9E"),
    ],
)
def test_canonicalize_writes_what_the_apiserver_reads_back(value, milli, written):
    assert quantity.canonicalize(value, milli) == written


@pytest.mark.parametrize("value", ["2 cores", "", True, None, [], {"a": 1}, "1ki"])
def test_canonicalize_leaves_non_quantities_alone(value):
    assert quantity.canonicalize(value) is value
    assert quantity.canonicalize(value, milli=True) is value


def test_capped_is_applied_on_decoding_not_by_parse():
    assert parse("9Ei").value == 9 * 2**60
    assert quantity.capped(parse("9Ei")).value == quantity.MAX_BINARY
    assert quantity.capped(parse("0.0001Ki")).format == quantity.DECIMAL_SI
    assert quantity.capped(parse("9E")) == parse("9E")


def test_rounded_up_goes_away_from_zero():
    assert quantity.rounded_up(parse("1.0001"), 3).value == Fraction(1001, 1000)
    assert quantity.rounded_up(parse("-1.0001"), 3).value == Fraction(-1001, 1000)
    assert quantity.rounded_up(parse("1.5"), 0) == parse("2")


def test_huge_scales_are_refused():
    """A create carrying 1e10000000 is refused rather than expanded (which would take minutes)."""
    for text in ("1e10000000", "1" * 5000):
        with pytest.raises(QuantityError, match="quantity is too large"):
            parse(text)
    with pytest.raises(QuantityError, match="unable to parse quantity's suffix"):
        parse("1e99999999999")
    assert str(parse("1e-10000000")) == "1e-9"  # rounds away from zero to one nano-unit
