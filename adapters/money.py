"""Exact money conversions between the platforms' units and Decimal major units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.errors import InvalidRequest

MICROS = Decimal(1_000_000)

# ISO 4217 currencies without minor units (the ones ad platforms bill in).
_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

# Meta's "offset 1" currencies: amounts are sent as whole units, even where ISO has cents
# (HUF, TWD, COP, IDR, CRC). Every other currency uses offset 100. (Meta currency table.)
_META_OFFSET_ONE = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point in the currency's minor unit (ISO 4217)."""
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(currency))


def parse_decimal(value: object) -> Decimal:
    """A platform's number (often a JSON string) as Decimal, never through float."""
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidRequest(f"Not a number in the platform response: {value!r}") from exc


def from_micros(value: object) -> Decimal:
    """Google's micros (int or int64-as-string) as major units: 1234567 -> 1.234567."""
    return parse_decimal(value) / MICROS


def to_micros(amount: Decimal) -> int:
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise InvalidRequest(f"{amount} has more than six decimal places.")
    return int(scaled)


def exact_in_currency(amount: Decimal, currency: str) -> Decimal:
    """`amount` unchanged, or InvalidRequest when it is finer than the currency allows."""
    if amount < 0:
        raise InvalidRequest("A budget cannot be negative.")
    step = quantum(currency)
    if amount.quantize(step) != amount:
        raise InvalidRequest(f"{amount} {currency} is finer than the currency's smallest unit.")
    return amount.quantize(step)


def meta_offset(currency: str) -> int:
    return 1 if currency.upper() in _META_OFFSET_ONE else 100


def from_meta_minor(value: object, currency: str) -> Decimal:
    """Meta budget minor units per its currency offset: 1999 USD -> 19.99, 500 JPY -> 500."""
    return parse_decimal(value) / meta_offset(currency)


def to_meta_minor(amount: Decimal, currency: str) -> int:
    scaled = amount * meta_offset(currency)
    if scaled != scaled.to_integral_value():
        raise InvalidRequest(f"{amount} {currency} is finer than Meta accepts for this currency.")
    if scaled < 0:
        raise InvalidRequest("A budget cannot be negative.")
    return int(scaled)
