"""The command line's own lines and tables (cli/terminal.py): markup, escaping, widths, wrapping, and colour only on
a terminal."""

from __future__ import annotations

import io

import pytest

from memory_mcp.cli.terminal import Console, Table, escape, styled, width_of


@pytest.mark.parametrize(
    "text",
    ["plain", "[bold]not a tag once escaped[/bold]", "a \\[red] b", "\\\\[bold]", "[link] [1] [x]", "東京 [cyan]x"],
)
def test_escaped_text_prints_as_written(text: str) -> None:
    assert styled(escape(text), color=False) == text
    assert styled(escape(text), color=True) == text


def test_markup_is_styled_on_a_terminal_and_dropped_elsewhere() -> None:
    assert styled("[bold]name[/bold]  value", color=False) == "name  value"
    assert styled("[bold]name[/bold]  value", color=True) == "\x1b[1mname\x1b[0m  value"
    assert styled("[red]problem:[/red] [link] kept", color=True) == "\x1b[31mproblem:\x1b[0m [link] kept"
    assert styled("[bold]left open", color=True).endswith("\x1b[0m")  # never bleeds into the next line


def test_width_counts_terminal_cells() -> None:
    assert width_of("abc") == 3
    assert width_of("東京") == 4  # wide
    assert width_of("e\u0301") == 1  # a combining accent takes no cell


def table() -> Table:
    made = Table(title="alice: 2 of 2")
    made.add_column("score", justify="right", no_wrap=True)
    made.add_column("id", no_wrap=True, style="cyan")
    made.add_column("text", min_width=24, ratio=3)
    made.add_column("metadata", ratio=1)
    made.add_row("0.5", "7f7d60e7-aa5b-4470", escape("a long text " * 12 + "[bold] stays text"), '{"topic": "x"}')
    made.add_row("0.25~", "cc0019b7-e782-4b61", "東京 " * 30, "")
    return made


def columns_of(lines: list[str]) -> list[str]:
    """Each column's cells of a drawn table's body, read down and joined (spaces dropped: a wrap may split a word)."""
    rows = [line.strip("│").split("│") for line in lines if line.startswith("│")]
    return ["".join(row[number] for row in rows).replace(" ", "") for number in range(len(rows[0]))]


@pytest.mark.parametrize("room", [60, 80, 120, 300])
def test_a_table_fits_the_room_and_keeps_every_word(room: int) -> None:
    lines = list(table().lines(room, color=False))
    body = lines[1:]
    assert len({width_of(line) for line in body}) == 1  # a box: every line as wide
    natural = 3 * 4 + 1 + 5 + 18 + len("a long text " * 12 + "[bold] stays text") + len('{"topic": "x"}')
    assert width_of(body[0]) == min(natural, room)
    score, memory_id, text, metadata = columns_of(body)
    assert score == "0.50.25~"
    assert memory_id == "7f7d60e7-aa5b-4470cc0019b7-e782-4b61"
    assert text == ("a long text " * 12 + "[bold] stays text" + "東京" * 30).replace(" ", "")
    assert metadata == '{"topic":"x"}'
    assert lines[0].strip() == "alice: 2 of 2"
    assert next(line for line in body if "7f7d60e7" in line).split("│")[1] == "   0.5 "  # right-justified


def test_wide_cells_are_wrapped_at_cell_widths_not_characters() -> None:
    lines = list(table().lines(80, color=False))
    assert all(width_of(line) == width_of(lines[1]) for line in lines[1:])
    assert any("東京" in line for line in lines)


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    console = Console()
    monkeypatch.setattr("sys.stdout", io.StringIO())
    console.print("[bold]x[/bold]")
    assert "\x1b[" not in console.file.getvalue()  # type: ignore[attr-defined]
    monkeypatch.setattr("sys.stdout", Terminal())
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    console.print("[bold]x[/bold]")
    console.print(table())
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert shown.startswith("\x1b[1mx\x1b[0m\n")
    assert "\x1b[36m7f7d60e7-aa5b-4470\x1b[0m" in shown  # the id column's style
    monkeypatch.setattr("sys.stdout", Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    console.print("[bold]x[/bold]")
    assert console.file.getvalue() == "x\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize("room", [40, 50])
def test_on_a_narrow_terminal_the_text_gives_way_and_no_header_is_broken(room: int) -> None:
    """Below the text's min_width the wrapping columns shrink to their headers' words (never "m", "e", "t", ...);
    only the unbreakable columns and those words can make a table wider than the terminal."""
    lines = list(table().lines(room, color=False))
    assert [cell.strip() for cell in lines[2].strip("┃").split("┃")] == ["score", "id", "text", "metadata"]
    assert width_of(lines[1]) == max(room, 3 * 4 + 1 + 5 + 18 + len("text") + len("metadata"))
