"""What mlcp shows people: text from outside never drives the terminal (escape sequences, C1 controls, bidi)."""

from __future__ import annotations

import io

from controlplane.cli.console import _ShownConsole, line_safe, markup_safe


def test_markup_safe_also_takes_brackets_literally() -> None:
    assert markup_safe("[black on black]hidden\x1b[0m") == "\\[black on black]hidden\\x1b\\[0m"


def test_line_safe_keeps_a_value_on_its_line() -> None:
    assert line_safe("a\n  result: applied\r[x]") == "a\\n  result: applied\\x0d\\[x]"


def test_the_consoles_show_escapes_instead_of_sending_them_and_keep_mlcps_own_styles() -> None:
    buffer = io.StringIO()
    console = _ShownConsole(file=buffer, force_terminal=True, color_system="standard", highlight=False)
    console.print("[red]denied[/red]: by eve\x1b[1A\x1b[2K@example.com")
    text = buffer.getvalue()
    assert "eve\\x1b[1A\\x1b[2K@example.com" in text
    assert "\x1b[1A" not in text and "\x1b[2K" not in text, "no cursor movement or erase reaches the terminal"
    assert "\x1b[31m" in text, "mlcp's own style still does"
