"""Log lines that input cannot forge: control characters in a message are written escaped, one record a line."""

from __future__ import annotations

import logging
import re
from typing import Final

FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def escape(text: str) -> str:
    """`text` with each control character (newline, carriage return, escape...) written as \\n, \\r or \\xNN."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return _CONTROL.sub(lambda found: named.get(found[0]) or f"\\x{ord(found[0]):02x}", text)


class OneLineFormatter(logging.Formatter):
    """A formatter whose message part never spans lines: a newline in a client's name or an id sent by a stranger
    cannot start a line that looks like a record of its own. Tracebacks keep their lines (they are ours)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape(super().formatMessage(record))
