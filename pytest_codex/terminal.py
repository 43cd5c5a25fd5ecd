"""What a person sees is what runs: text from commands, argv and prompts made inert before it
reaches a terminal.

A command line or its output can hold terminal control sequences: ``ESC [ 2K`` and a carriage
return erase what was printed, ``ESC ] 0;`` retitles the window, a bidirectional override
(U+202E) shows characters in another order. Shown raw, ``rm -rf ~`` could look like
``ls`` in the approver's question. :func:`visible` writes every C0 and C1 control character
(except, when asked, newline and tab), DEL and the bidirectional controls as escapes
(``\\x1b``, ``\\r``, ``\\u202e``), so the text on the screen is the text that runs.
"""

from __future__ import annotations

import re

_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_CONTROLS_BUT_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` with control characters escaped; ``lines=True`` keeps newlines and tabs (for
    multi-line output), otherwise the result is one line."""
    pattern = _CONTROLS_BUT_LINES if lines else _CONTROLS
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def visible_argv(argv: list[str] | tuple[str, ...]) -> str:
    """A command line as a shell would take it (``shlex.join``), made :func:`visible`."""
    import shlex

    return visible(shlex.join(argv))
