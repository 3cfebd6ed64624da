from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from passerelle.money import CurrencyMismatchError, Money, MoneyError, currency

# Parsing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "expected"),
    [
        ("12.34", "CAD", "12.34 CAD"),
        ("5", "CAD", "5.00 CAD"),
        (" 7.5 ", "cad", "7.50 CAD"),
        ("12.340", "CAD", "12.34 CAD"),
        (12, "USD", "12.00 USD"),
        (Decimal("0.1"), "EUR", "0.10 EUR"),
        ("-3.25", "CAD", "-3.25 CAD"),
        ("1500", "JPY", "1500 JPY"),
        ("1.5", "BHD", "1.500 BHD"),
        ("-0", "CAD", "0.00 CAD"),
    ],
)
def test_parses_decimal_strings_ints_and_decimals(
    raw: str | int | Decimal, code: str, expected: str
) -> None:
    assert str(Money.of(raw, code)) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "amount 'abc' is not a decimal number"),
        ("", "amount '' is not a decimal number"),
        ("NaN", "amount 'NaN' is not a finite number"),
        ("-Infinity", "amount '-Infinity' is not a finite number"),
        ("1e30", "amount 1E+30 is too large"),
        (None, "amount must be a decimal string, int or Decimal, not NoneType"),
    ],
)
def test_rejects_what_is_not_an_amount(raw: object, message: str) -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of(raw, "CAD")  # type: ignore[arg-type]
    assert str(excinfo.value) == message


def test_repr_shows_amount_and_currency() -> None:
    assert repr(Money.of("12.3", "CAD")) == "Money('12.30', 'CAD')"


# Floats never get in ----------------------------------------------------------------------------


def test_rejects_a_float_amount() -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of(12.34, "CAD")  # type: ignore[arg-type]
    assert str(excinfo.value) == "amount 12.34 is a float: use a decimal string"


def test_rejects_a_bool_amount() -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of(True, "CAD")
    assert str(excinfo.value) == "amount True is a bool: use a decimal string"


def test_rejects_float_minor_units() -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.from_minor(1234.0, "CAD")  # type: ignore[arg-type]
    assert str(excinfo.value) == "minor units must be an int, not float"


def test_rejects_multiplying_by_a_float() -> None:
    with pytest.raises(TypeError) as excinfo:
        Money.of("1.00", "CAD") * 1.5  # type: ignore[operator]
    assert (
        str(excinfo.value) == "Money can only be multiplied by an int; use allocate() to split it"
    )


def test_rejects_a_float_weight() -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of("1.00", "CAD").allocate([1, 0.5])  # type: ignore[list-item]
    assert str(excinfo.value) == "weight 0.5 is a float: use int or Decimal"


# Decimals and currencies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ("12.345", "CAD", "amount 12.345 has more decimals than CAD allows (2)"),
        ("1.5", "JPY", "amount 1.5 has more decimals than JPY allows (0)"),
        ("1.0001", "BHD", "amount 1.0001 has more decimals than BHD allows (3)"),
    ],
)
def test_rejects_more_decimals_than_the_currency_allows(raw: str, code: str, message: str) -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of(raw, code)
    assert str(excinfo.value) == message


def test_rejects_an_unknown_currency() -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of("1.00", "XYZ")
    assert str(excinfo.value) == "unknown currency 'XYZ': expected an ISO 4217 code such as CAD"


@pytest.mark.parametrize(
    ("code", "exponent", "amount", "minor"),
    [
        ("CAD", 2, "12.34", 1234),
        ("JPY", 0, "1234", 1234),
        ("BHD", 3, "12.345", 12345),
        ("QAR", 2, "12.34", 1234),
        ("KES", 2, "12.34", 1234),
        ("XCD", 2, "12.34", 1234),
        ("UGX", 0, "1234", 1234),
        ("CLF", 4, "1.2345", 12345),
    ],
)
def test_minor_units_follow_the_currency_exponent(
    code: str, exponent: int, amount: str, minor: int
) -> None:
    assert currency(code.lower()).exponent == exponent
    assert Money.of(amount, code).minor == minor
    assert Money.from_minor(minor, code) == Money.of(amount, code)


# Arithmetic --------------------------------------------------------------------------------------


def test_arithmetic_stays_exact() -> None:
    a, b = Money.of("0.10", "CAD"), Money.of("0.20", "CAD")
    assert a + b == Money.of("0.30", "CAD")
    assert b - a == a
    assert -a == Money.of("-0.10", "CAD")
    assert abs(-a) == a
    assert a * 3 == 3 * a == Money.of("0.30", "CAD")
    assert Money.sum([a, b, a], "CAD") == Money.of("0.40", "CAD")
    assert Money.sum([], "JPY") == Money.zero("JPY")
    assert a < b <= b
    assert b > a >= a
    assert a.min(b) == a
    assert a.max(b) == b


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (lambda a, b: a + b, "cannot add 1.00 CAD and 1.00 USD: currencies differ"),
        (lambda a, b: a - b, "cannot subtract 1.00 CAD and 1.00 USD: currencies differ"),
        (lambda a, b: a < b, "cannot compare 1.00 CAD and 1.00 USD: currencies differ"),
        (
            lambda a, b: a.allocate([b]),
            "cannot allocate by 1.00 CAD and 1.00 USD: currencies differ",
        ),
    ],
)
def test_mixing_currencies_raises(operation: object, message: str) -> None:
    cad, usd = Money.of("1.00", "CAD"), Money.of("1.00", "USD")
    with pytest.raises(CurrencyMismatchError) as excinfo:
        operation(cad, usd)  # type: ignore[operator]
    assert str(excinfo.value) == message


def test_money_is_not_equal_to_the_same_amount_in_another_currency() -> None:
    assert Money.of("1.00", "CAD") != Money.of("1.00", "USD")


# Allocation --------------------------------------------------------------------------------------


def test_allocate_gives_left_over_units_to_the_largest_remainders() -> None:
    parts = Money.of("1.00", "CAD").allocate([1, 1, 1])
    assert parts == [Money.of("0.34", "CAD"), Money.of("0.33", "CAD"), Money.of("0.33", "CAD")]
    assert Money.of("10", "JPY").allocate([1, 2]) == [Money.of("3", "JPY"), Money.of("7", "JPY")]


def test_allocate_splits_a_negative_amount_as_its_magnitude() -> None:
    parts = Money.of("-1.00", "CAD").allocate([Decimal("0.5"), Decimal("0.25"), Decimal("0.25")])
    assert parts == [Money.of("-0.50", "CAD"), Money.of("-0.25", "CAD"), Money.of("-0.25", "CAD")]


def test_allocate_by_money_weights() -> None:
    parts = Money.of("10.00", "CAD").allocate([Money.of("3.00", "CAD"), Money.of("1.00", "CAD")])
    assert parts == [Money.of("7.50", "CAD"), Money.of("2.50", "CAD")]


def test_allocate_stays_exact_for_amounts_at_the_edge_of_decimal_precision() -> None:
    amount = Money.from_minor(10**28 - 1, "CAD")
    parts = amount.allocate([1, 1])
    assert parts == [Money.from_minor(5 * 10**27, "CAD"), Money.from_minor(5 * 10**27 - 1, "CAD")]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "cannot allocate over no weights"),
        ([0, 0], "cannot allocate over weights that sum to zero"),
        ([1, -1], "weights must not be negative: ['1', '-1']"),
        (["x", 1], "weight 'x' is not a finite int or Decimal"),
        ([Decimal("NaN"), 1], "weight Decimal('NaN') is not a finite int or Decimal"),
        ([Decimal("Infinity")], "weight Decimal('Infinity') is not a finite int or Decimal"),
    ],
)
def test_allocate_rejects_unusable_weights(weights: list[object], message: str) -> None:
    with pytest.raises(MoneyError) as excinfo:
        Money.of("1.00", "CAD").allocate(weights)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


@settings(max_examples=200, deadline=None)
@given(
    code=st.sampled_from(["CAD", "JPY", "BHD", "CLF"]),
    minor=st.integers(-(10**27), 10**27),
    weights=st.lists(st.integers(0, 10**30), min_size=1, max_size=8).filter(any),
)
def test_allocation_sums_exactly_and_each_part_is_within_one_minor_unit(
    code: str, minor: int, weights: list[int]
) -> None:
    amount = Money.from_minor(minor, code)
    parts = amount.allocate(weights)
    assert len(parts) == len(weights)
    assert sum(part.minor for part in parts) == minor
    assert all(part.currency == amount.currency for part in parts)
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(minor) * weight / total
        assert abs(part.minor - exact) < 1


@settings(max_examples=200, deadline=None)
@given(
    minor=st.integers(0, 10**12),
    weights=st.lists(st.decimals(0, 10**6, places=3), min_size=1, max_size=6).filter(any),
)
def test_allocation_by_decimal_weights_sums_exactly(minor: int, weights: list[Decimal]) -> None:
    amount = Money.from_minor(minor, "BHD")
    parts = amount.allocate(weights)
    assert Money.sum(parts, "BHD") == amount
    total = sum(weights, Decimal(0))
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part.minor - Fraction(minor) * Fraction(weight) / Fraction(total)) < 1


# pydantic ----------------------------------------------------------------------------------------


class Priced(BaseModel):
    price: Money


def test_pydantic_round_trip_keeps_the_amount_as_a_string() -> None:
    model = Priced(price=Money.of("12.34", "CAD"))
    dumped = model.model_dump_json()
    assert dumped == '{"price":{"amount":"12.34","currency":"CAD"}}'
    assert Priced.model_validate_json(dumped) == model
    assert model.model_dump() == {"price": {"amount": "12.34", "currency": "CAD"}}


@pytest.mark.parametrize("code", ["JPY", "BHD"])
def test_pydantic_round_trip_in_other_exponents(code: str) -> None:
    model = Priced(price=Money.from_minor(123456, code))
    assert Priced.model_validate_json(model.model_dump_json()) == model


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"price":{"amount":12.34,"currency":"CAD"}}', "amount 12.34 is a float"),
        ('{"price":{"amount":"12.345","currency":"CAD"}}', "more decimals than CAD allows"),
        ('{"price":{"amount":"1","currency":"XYZ"}}', "unknown currency 'XYZ'"),
        ('{"price":{"amount":"1e30","currency":"CAD"}}', "amount 1E+30 is too large"),
        ('{"price":{"amount":"1","currency":"CAD","x":1}}', "exactly 'amount' and 'currency'"),
        ('{"price":"12.34 CAD"}', "exactly 'amount' and 'currency'"),
    ],
)
def test_pydantic_rejects_bad_money_as_a_validation_error(payload: str, message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Priced.model_validate_json(payload)
    errors = excinfo.value.errors()
    assert [error["loc"] for error in errors] == [("price",)]
    assert message in errors[0]["msg"]


@given(
    st.sampled_from(["JPY", "CAD", "BHD", "CLF"]),
    st.integers(min_value=-(10**24), max_value=10**24),
    st.integers(min_value=-(10**24), max_value=10**24),
)
def test_arithmetic_equals_building_the_result_from_scratch(code: str, a: int, b: int) -> None:
    left, right = Money.from_minor(a, code), Money.from_minor(b, code)
    for result, exact in ((left + right, a + b), (left - right, a - b), (-left, -a)):
        assert result == Money.from_minor(exact, code)
        assert str(result.amount) == str(Money.from_minor(exact, code).amount)
