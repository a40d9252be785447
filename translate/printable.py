"""Text from untrusted places (file names, spec fields, messages quoting them) made safe to print.

A file name may hold any character but "/" and NUL: an escape sequence that sets the terminal's title or
colours, a newline that fakes another line of a listing, a bidirectional override that shows a name
backwards, bytes that are not UTF-8 (surrogates, which a strict stream cannot even encode). Every name a
command or the app shows goes through :func:`printable` on its way out.
"""

from __future__ import annotations

from collections.abc import Sequence

FIRST_PROBLEMS = 10
"""How many unreadable files a listing names, with their reasons, before it only counts the rest."""


def printable(text: str) -> str:
    """`text` with every character that is not printable (control and format characters, line and paragraph
    separators, surrogates, unassigned code points) written as a Python escape: \\x1b, \\n, \\u202e."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def first_problems(problems: Sequence[str], first: int = FIRST_PROBLEMS) -> list[str]:
    """Lines for a listing's unreadable files: the first `first` problems (printable), then how many more."""
    lines = [printable(p) for p in problems[:first]]
    if len(problems) > first:
        lines.append(f"... and {len(problems) - first} more unreadable files")
    return lines


def unreadable_markdown(problems: Sequence[str]) -> str:
    """The app's Markdown section for unreadable model files: how many, then the first with their reasons."""
    return f"### Unreadable files: {len(problems)}\n" + "\n".join(f"- {line}" for line in first_problems(problems))
