"""Lines and tables for people at a terminal, styled only there, without a rendering library's 30 ms of imports."""

from __future__ import annotations

import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal

_STYLES: Final = {"bold": "1", "italic": "3", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
"""The markup tags a line may hold, `[bold]...[/bold]`, and their terminal codes."""
_TAG: Final = re.compile(r"(\\*)\[(/?)(" + "|".join(_STYLES) + r")\]")
_PIPED_WIDTH: Final = 120
"""Tables piped to a file or another program are laid out this wide (scripts should use --json)."""


def escape(text: str) -> str:
    """`text` with anything that reads as a markup tag escaped, to print as it is."""
    return _TAG.sub(lambda found: found.group(1) * 2 + "\\" + found.group(0)[len(found.group(1)) :], text)


def styled(markup: str, color: bool) -> str:
    """A line's markup as terminal codes (`color`), or as plain text; an escaped tag prints as written."""
    open_styles: list[str] = []

    def replace(found: re.Match[str]) -> str:
        slashes, closing, name = found.groups()
        if len(slashes) % 2:  # escaped: the tag itself is text
            return slashes[: len(slashes) // 2] + found.group(0)[len(slashes) :]
        kept = slashes[: len(slashes) // 2]
        if not color:
            return kept
        if closing:
            if name in open_styles:
                open_styles.remove(name)
            return kept + "\x1b[0m" + "".join(f"\x1b[{_STYLES[style]}m" for style in open_styles)
        open_styles.append(name)
        return kept + f"\x1b[{_STYLES[name]}m"

    text = _TAG.sub(replace, markup)
    return text + "\x1b[0m" if color and open_styles else text


def width_of(text: str) -> int:
    """How many terminal cells `text` takes: East Asian wide characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text
    )


def _wrapped(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken between words, and inside a word longer than a line."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            while width_of(word) > width:  # a word longer than a line is folded
                if line:
                    lines.append(line)
                    line = ""
                cut, used = 0, 0
                while cut < len(word) and used + width_of(word[cut]) <= width:
                    used += width_of(word[cut])
                    cut += 1
                lines.append(word[: max(cut, 1)])
                word = word[max(cut, 1) :]
            if not line:
                line = word
            elif width_of(line) + 1 + width_of(word) <= width:
                line = f"{line} {word}"
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


@dataclass
class _Column:
    header: str
    justify: Literal["left", "right"] = "left"
    no_wrap: bool = False
    style: str | None = None
    min_width: int = 1
    ratio: int = 1


@dataclass
class Table:
    """Rows of markup under a bold header, in a box as wide as its cells or the terminal; the cells of a column that
    may wrap are wrapped to fit (the others keep their width)."""

    title: str | None = None
    columns: list[_Column] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def add_column(
        self,
        header: str,
        *,
        justify: Literal["left", "right"] = "left",
        no_wrap: bool = False,
        style: str | None = None,
        min_width: int = 1,
        ratio: int = 1,
    ) -> None:
        """A column: `no_wrap` keeps its cells on one line; the others share the room left by `ratio`."""
        self.columns.append(_Column(header, justify, no_wrap, style, min_width, ratio))

    def add_row(self, *cells: str) -> None:
        """A row of markup cells, one per column."""
        self.rows.append(list(cells))

    def _widths(self, room: int) -> list[int]:
        plain = [[styled(cell, False) for cell in row] for row in self.rows]
        natural = [
            max([width_of(column.header)] + [width_of(line) for row in plain for line in row[i].split("\n")])
            for i, column in enumerate(self.columns)
        ]
        room -= 3 * len(self.columns) + 1  # borders and a space each side of every cell
        if sum(natural) <= room:
            return natural
        flexible = [i for i, column in enumerate(self.columns) if not column.no_wrap]
        fixed = sum(natural[i] for i in range(len(natural)) if i not in flexible)
        # A wrapping column is never narrower than its header's longest word, nor than its `min_width` while the
        # room allows: on a narrow terminal the text gives way before a header is broken letter by letter.
        headed = {i: min(natural[i], max(map(width_of, self.columns[i].header.split()), default=1)) for i in flexible}
        widths = {i: max(headed[i], min(self.columns[i].min_width, natural[i])) for i in flexible}
        if fixed + sum(widths.values()) > room:
            widths = headed
        spare = room - fixed - sum(widths.values())
        wanting = [i for i in flexible if natural[i] > widths[i]]
        while wanting and spare > 0:  # the room left is shared by ratio; a column never gets more than it needs
            shares = sum(self.columns[i].ratio for i in wanting)
            given = {i: spare * self.columns[i].ratio // shares for i in wanting}
            sated = [i for i in wanting if natural[i] - widths[i] <= given[i]]
            if not sated:
                for number, i in enumerate(wanting):
                    widths[i] += given[i] + (number < spare - sum(given.values()))  # the rounding's cells too
                break
            for i in sated:
                spare -= natural[i] - widths[i]
                widths[i] = natural[i]
                wanting.remove(i)
        return [max(widths.get(i, natural[i]), 1) for i in range(len(natural))]

    def lines(self, room: int, color: bool) -> Iterator[str]:
        """The table as lines at most `room` cells wide (wider only when its unbreakable columns are)."""
        widths = self._widths(room)

        def rule(left: str, middle: str, right: str, line: str) -> str:
            return left + middle.join(line * (width + 2) for width in widths) + right

        def cells(values: list[str], header: bool) -> Iterator[str]:
            wrapped = []
            for value, column, width in zip(values, self.columns, widths, strict=True):
                plain = styled(value, False)  # a cell is text (escaped); its column gives its style
                wrapped.append(plain.split("\n") if column.no_wrap else _wrapped(plain, width))
            style_of = ["bold" if header else column.style for column in self.columns]
            for number in range(max(len(lines) for lines in wrapped)):
                parts = []
                for lines, column, width, style in zip(wrapped, self.columns, widths, style_of, strict=True):
                    text = lines[number] if number < len(lines) else ""
                    pad = " " * max(width - width_of(text), 0)
                    if color and style and text:
                        text = f"\x1b[{_STYLES[style]}m{text}\x1b[0m"
                    parts.append(f" {pad}{text} " if column.justify == "right" else f" {text}{pad} ")
                bar = "┃" if header else "│"
                yield bar + bar.join(parts) + bar

        total = sum(widths) + 3 * len(widths) + 1
        if self.title:
            title = styled(f"[italic]{self.title}[/italic]", color)
            yield " " * max((total - width_of(self.title)) // 2, 0) + title
        yield rule("┏", "┳", "┓", "━")
        yield from cells([column.header for column in self.columns], header=True)
        yield rule("┡", "╇", "┩", "━")
        for row in self.rows:
            yield from cells(row, header=False)
        yield rule("└", "┴", "┘", "─")


class Console:
    """Where a command's lines go (stdout or stderr, as the interpreter has them at the time of printing): markup is
    styled on a terminal (unless NO_COLOR is set) and dropped elsewhere; lines are never wrapped (the terminal wraps
    them for the eye), so a path or a command in them copies whole."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._rich: Any = None

    @property
    def file(self) -> IO[str]:
        """The stream printed to now."""
        return sys.stderr if self._stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        """True when a person is reading: the stream is a terminal."""
        isatty = getattr(self.file, "isatty", None)
        return bool(isatty and isatty())

    def _color(self) -> bool:
        return self.is_terminal and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"

    def print(self, line: str | Table = "") -> None:
        """Print a line of markup, or a table (as wide as the terminal; 120 cells when piped)."""
        color = self._color()
        if isinstance(line, Table):
            room = shutil.get_terminal_size((_PIPED_WIDTH, 24)).columns if self.is_terminal else _PIPED_WIDTH
            self.file.write("".join(text + "\n" for text in line.lines(room, color)))
        else:
            self.file.write(styled(line, color) + "\n")
        self.file.flush()

    def real(self) -> Any:
        """A rich Console on the same stream, for progress bars (rich loads only then)."""
        if self._rich is None:
            from rich.console import Console as RichConsole

            self._rich = RichConsole(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._rich
