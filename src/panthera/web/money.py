"""Money on the page: integer minor units shown and entered in the currency's major unit."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENT_0 = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())  # noqa: SIM905
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}


def exponent(currency: str) -> int:
    code = currency.upper()
    if code in _EXPONENT_0:
        return 0
    if code in _EXPONENT_3:
        return 3
    return 2


def to_major(amount: int, currency: str) -> str:
    """`1999, "EUR"` -> `"19.99"`: the value a form field shows."""
    places = exponent(currency)
    return f"{Decimal(amount).scaleb(-places):.{places}f}"


def format_money(amount: int, currency: str) -> str:
    """`1999, "EUR"` -> `"€19.99"`; currencies without a well-known symbol keep their code."""
    places = exponent(currency)
    text = f"{Decimal(amount).scaleb(-places):,.{places}f}"
    symbol = _SYMBOLS.get(currency.upper())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def parse_major(text: str, currency: str) -> int:
    """`"19.99", "EUR"` -> `1999`; a clear `ValueError` for anything a person mistyped."""
    places = exponent(currency)
    cleaned = text.strip().replace(" ", "")
    example = to_major(1999 * 10**places // 100, currency)
    if not cleaned:
        raise ValueError("Enter a price")
    if "," in cleaned:
        raise ValueError(f"Use a dot for decimals, e.g. {example}")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"Enter a price like {example}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"Enter a price like {example}")
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency.upper()} prices have at most {places} decimal places")
    return int(minor)
