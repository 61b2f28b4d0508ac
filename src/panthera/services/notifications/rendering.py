"""Message templates (Jinja2): `templates/<name>/subject.txt.j2`, `body.txt.j2`,
`body.html.j2` for email, and `sms.txt.j2` for the templates that also text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

TEMPLATES = Path(__file__).parent / "templates"
# ISO 4217 currencies whose minor unit is not a hundredth.
_EXPONENT = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3}


def money(amount: int | None, currency: str | None) -> str:
    """An amount in minor units as people read it: 1999, EUR -> 19.99 EUR."""
    if amount is None:
        return ""
    code = (currency or "").upper()
    exponent = _EXPONENT.get(code, 2)
    value = f"{amount / 10**exponent:,.{exponent}f}" if exponent else f"{amount:,}"
    return f"{value} {code}".strip()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str | None


class Renderer:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["money"] = lambda amount, currency: money(amount, currency)

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**context)

    def render(self, template: str, context: dict[str, Any]) -> Rendered:
        try:
            sms: str | None = self._render(f"{template}/sms.txt.j2", context).strip()
        except TemplateNotFound:
            sms = None
        return Rendered(
            subject=" ".join(self._render(f"{template}/subject.txt.j2", context).split()),
            text=self._render(f"{template}/body.txt.j2", context),
            html=self._render(f"{template}/body.html.j2", context),
            sms=sms,
        )
