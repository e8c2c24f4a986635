"""Small server-rendered SVG charts for the staff pages (no JavaScript, nothing to load).

Pure functions: figures in, escaped SVG markup out. A chart is ``role="img"`` with an
``aria-label`` that says what it shows; each bar (one per category, e.g. per day) is a group
with its own ``<title>``, so hovering it shows the exact figure. Screen readers get the same
figures from the data table the page puts beside every chart, which is why the label says so.

The SVG has no text of its own: it stretches to the width of its box (``preserveAspectRatio
="none"``) at a fixed height, so it reads the same at 360 px and on a desktop; dates and the
scale are written in HTML around it, where they wrap and scale like the rest of the page.
Colours are SVG attributes rather than classes (the Content Security Policy forbids inline
styles, and attributes need no CSS build).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString

Number = Decimal | int | float

# Tailwind's stone-500 and orange-700: each at least 3:1 against the white card (WCAG 1.4.11).
GREY = "#78716c"
ORANGE = "#c2410c"

# The drawing's own coordinate system; the SVG is scaled to its box.
_WIDTH = 300
_HEIGHT = 100
_BAR_SHARE = 0.7  # of each category's slot; the rest is the gap between bars


@dataclass(frozen=True)
class Series:
    """One stacked layer: a name for the legend and titles, a fill colour, one value per category."""

    name: str
    color: str
    values: Sequence[Number]


def usd(value: Number | None) -> str:
    """Dollars with two decimals and thousands separators; "—" for a figure that does not exist."""
    if value is None:
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def bar_chart(
    *,
    label: str,
    categories: Sequence[str],
    values: Sequence[Number],
    value_format: Callable[[Number], str] = str,
    color: str = ORANGE,
) -> SafeString:
    """One bar per category; each bar's title reads "<category>: <value>"."""
    return stacked_bar_chart(
        label=label,
        categories=categories,
        series=[Series(name="", color=color, values=values)],
        value_format=value_format,
    )


def stacked_bar_chart(
    *,
    label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_format: Callable[[Number], str] = str,
) -> SafeString:
    """One bar per category with the series stacked bottom-up in the given order.

    A stacked bar's title lists each series and the total: "25 Nov: free $1.00, paid $2.50,
    total $3.50".
    """
    for layer in series:
        if len(layer.values) != len(categories):
            raise ValueError(
                f"Series {layer.name!r} has {len(layer.values)} values for {len(categories)} bars."
            )
    totals = [
        sum((Decimal(str(layer.values[i])) for layer in series), Decimal(0)) for i in range(len(categories))
    ]
    top = max(totals, default=Decimal(0))
    slot = Decimal(_WIDTH) / max(len(categories), 1)
    bar_width = slot * Decimal(str(_BAR_SHARE))
    bars = SafeString("")
    for i, category in enumerate(categories):
        x = slot * i + (slot - bar_width) / 2
        bars += _bar(
            category=category,
            x=x,
            width=bar_width,
            slot_x=slot * i,
            slot_width=slot,
            segments=[(layer, Decimal(str(layer.values[i]))) for layer in series],
            total=totals[i],
            top=top,
            value_format=value_format,
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" height="160" '
        'preserveAspectRatio="none" role="img" aria-label="{}" data-chart>'
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#a8a29e" stroke-width="1" '
        'vector-effect="non-scaling-stroke"/>'
        "{}</svg>",
        _WIDTH,
        _HEIGHT,
        label,
        _HEIGHT,
        _WIDTH,
        _HEIGHT,
        bars,
    )


def _bar(
    *,
    category: str,
    x: Decimal,
    width: Decimal,
    slot_x: Decimal,
    slot_width: Decimal,
    segments: list[tuple[Series, Decimal]],
    total: Decimal,
    top: Decimal,
    value_format: Callable[[Number], str],
) -> SafeString:
    if len(segments) == 1:
        title = f"{category}: {value_format(segments[0][1])}"
    else:
        parts = [f"{layer.name} {value_format(value)}" for layer, value in segments]
        title = f"{category}: {', '.join(parts)}, total {value_format(total)}"
    # A transparent rectangle over the whole column, so even a zero bar shows its title on hover.
    rects = format_html(
        '<rect x="{}" y="0" width="{}" height="{}" fill="transparent"/>',
        _n(slot_x),
        _n(slot_width),
        _HEIGHT,
    )
    y = Decimal(_HEIGHT)
    for layer, value in segments:
        if value <= 0 or top <= 0:
            continue
        height = Decimal(_HEIGHT) * value / top
        y -= height
        rects += format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-series="{}"/>',
            _n(x),
            _n(y),
            _n(width),
            _n(height),
            layer.color,
            layer.name,
        )
    return format_html('<g data-bar="{}"><title>{}</title>{}</g>', category, title, rects)


def swatch(*, color: str) -> SafeString:
    """A small square in a series' colour, for a legend written in HTML beside the chart."""
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" width="12" height="12" '
        'aria-hidden="true" focusable="false"><rect width="10" height="10" fill="{}"/></svg>',
        color,
    )


def _n(value: Decimal) -> str:
    """A coordinate with at most three decimals, without trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
