"""The colours that carry meaning (verdicts, statuses, safety badges), chosen once for every terminal.

Each colour keeps a contrast of at least 4.5:1 (WCAG AA) against the dark backgrounds of the default
theme in truecolor, after Textual's NO_COLOR filter (grey by luminance), and in a 16-colour terminal
(Rich maps each one to a bright xterm colour: red, green, yellow, cyan; never to the dim ones).
The default theme, `flowlogs-dark` (THEME), is Textual's textual-dark with these colours for $accent,
$warning, $error and $success, and a deeper $primary (white text on it, e.g. the table cursor, keeps
4.5:1; in 16 colours it is blue, not cyan) and backgrounds that 16 colours show as black or blue. Colour is never the only carrier: every verdict and status is also a word or a symbol.
`tests/test_terminal.py` measures the rendered screens in all three ways.
"""

from __future__ import annotations

from dataclasses import replace

from textual.theme import BUILTIN_THEMES, Theme

OK = "#5fd75f"  # compliant, ready, pass, applied
WARN = "#ffd75f"  # needs a change, waiting, partial, warnings
BAD = "#ff8080"  # missing, failed, refused, errors
INFO = "#5fd7ff"  # headings and titles that are not a verdict (never red, unlike $accent in 16 colours)

OK_BOLD = f"bold {OK}"
WARN_BOLD = f"bold {WARN}"
BAD_BOLD = f"bold {BAD}"
INFO_BOLD = f"bold {INFO}"

# Badges in the context bar: dark text on a bright background, readable in every mode (not bold: xterm
# shows bold black as grey).
BADGE_DEMO = "#000000 on #ffd75f"
BADGE_READ_ONLY = "#000000 on #5fd75f"
BADGE_READ_WRITE = "#000000 on #ffaf5f"

THEME = Theme(
    name="flowlogs-dark",
    primary="#00478f",
    secondary="#004578",
    accent=INFO,
    warning=WARN,
    error=BAD,
    success=OK,
    foreground="#e0e0e0",
    # Backgrounds a 16-colour terminal shows as black or blue (never grey or cyan, under light text).
    panel="#23282e",
    variables={
        "footer-background": "#202020",
        "block-cursor-blurred-background": "#00308f",
        "primary-background": "#1c2833",
        # not bold: a cursor row keeps a badge's dark text, and xterm shows bold black as grey
        "block-cursor-text-style": "none",
    },
)

# Textual's ansi-dark with footer keys in bright magenta (plain magenta on black is 4.48:1 in xterm's
# colours) and the table cursor bright white on blue (its bold black on white shows grey on white in xterm).
_ANSI_DARK = BUILTIN_THEMES["ansi-dark"]
ANSI_DARK = replace(
    _ANSI_DARK,
    variables={
        **_ANSI_DARK.variables,
        "footer-key-foreground": "ansi_bright_magenta",
        "block-cursor-foreground": "ansi_bright_white",
        "block-cursor-background": "ansi_blue",
    },
)
THEMES = (THEME, ANSI_DARK)  # registered by the app (ANSI_DARK in place of Textual's own)
