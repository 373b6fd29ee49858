"""What a person sees on the terminal, measured from the app's rendered screen (after Textual's filters,
such as NO_COLOR's): the visible text, the footer keys that fit, and the contrast of words.

Contrast is WCAG's ratio of relative luminances. `in_16_colours` maps each colour the way a 16-colour
terminal shows it: Rich's downgrade to the standard palette, displayed with xterm's default colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.segment import Segment
from textual.app import App
from textual.widgets._footer import FooterKey

# xterm's default 16 colours (the reference palette of a 16-colour terminal).
XTERM_16 = (
    (0x00, 0x00, 0x00), (0xCD, 0x00, 0x00), (0x00, 0xCD, 0x00), (0xCD, 0xCD, 0x00),
    (0x00, 0x00, 0xEE), (0xCD, 0x00, 0xCD), (0x00, 0xCD, 0xCD), (0xE5, 0xE5, 0xE5),
    (0x7F, 0x7F, 0x7F), (0xFF, 0x00, 0x00), (0x00, 0xFF, 0x00), (0xFF, 0xFF, 0x00),
    (0x5C, 0x5C, 0xFF), (0xFF, 0x00, 0xFF), (0x00, 0xFF, 0xFF), (0xFF, 0xFF, 0xFF),
)  # fmt: skip
AA = 4.5  # WCAG AA for normal text
RGB = tuple[int, int, int]


def screen_lines(app: App[Any]) -> list[str]:
    """The screen's text, one string per terminal row."""
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


def footer_keys(app: App[Any]) -> dict[str, bool]:
    """Each footer key's description -> whether the whole key is on screen."""
    width = app.size.width
    return {
        key.description or key.key_display: key.region.width > 0 and key.region.right <= width
        for key in app.screen.query(FooterKey)
    }


def luminance(rgb: RGB) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _rgb(color: RichColor | None, fallback: RGB, *, colours: int, bold: bool = False) -> RGB:
    if color is None or color.is_default:
        return fallback
    if colours == 16:
        color = color.downgrade(ColorSystem.STANDARD)
    if color.triplet is None and color.number is not None and color.number < 16:  # an ANSI colour
        # xterm shows bold text in the bright variant of colours 0-7 (its boldColors default)
        return XTERM_16[color.number + 8 if bold and color.number < 8 else color.number]
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


@dataclass(frozen=True)
class WordContrast:
    word: str
    row: int
    ratio: float


def word_contrasts(
    app: App[Any], words: set[str] | None, *, colours: int = 0, rows: set[int] | None = None
) -> list[WordContrast]:
    """The contrast of every segment on screen whose text (stripped) is one of `words` (None: any text)
    in `rows` (None: every row); `colours=16` measures it as a 16-colour terminal shows it, else as
    rendered (truecolor). Reverse video swaps the colours, as the terminal does; bold colours 0-7 show
    bright, as xterm shows them. Terminal defaults: light text on black (a dark terminal; light ones are
    not modelled)."""
    found = []
    for row, strip in enumerate(app.screen._compositor.render_strips()):
        if rows is not None and row not in rows:
            continue
        for seg in Segment.simplify(strip):
            text = seg.text.strip()
            if not text or (words is not None and text not in words) or seg.style is None:
                continue
            fg = _rgb(seg.style.color, XTERM_16[7], colours=colours, bold=bool(seg.style.bold))
            bg = _rgb(seg.style.bgcolor, XTERM_16[0], colours=colours)
            if seg.style.reverse:
                fg, bg = bg, fg
            found.append(WordContrast(text, row, contrast(fg, bg)))
    return found
