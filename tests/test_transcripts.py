"""Reading a conversation: a JSON array, JSON lines, or Claude Code's transcript; each mistake named."""

from __future__ import annotations

import json

import pytest

from memory_mcp.errors import InvalidInputError
from memory_mcp.transcripts import MAX_CHARS, Message, read_transcript


def test_a_json_array_and_json_lines_read_alike() -> None:
    messages = [{"role": "user", "content": "I adopted a cat"}, {"role": "assistant", "content": "Lovely!"}]
    expected = [Message("user", "I adopted a cat"), Message("assistant", "Lovely!")]
    assert read_transcript(json.dumps(messages)) == expected
    assert read_transcript("\n".join(json.dumps(m) for m in messages) + "\n\n") == expected


def test_claude_codes_transcript_keeps_the_text_of_user_and_assistant_messages() -> None:
    lines = [
        {"type": "summary", "summary": "Cats"},
        {"type": "user", "message": {"role": "user", "content": "My cat is called Miso"}},
        {
            "type": "assistant",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "..."},
                    {"type": "text", "text": "Nice name."},
                    {"type": "tool_use", "id": "t1", "name": "add_memory", "input": {}},
                ],
            },
        },
        {"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}},
        {"type": "file-history-snapshot", "snapshot": {}},
    ]
    assert read_transcript("\n".join(json.dumps(line) for line in lines)) == [
        Message("user", "My cat is called Miso"),
        Message("assistant", "Nice name."),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("", "The conversation is empty", id="empty"),
        pytest.param("[{", "not valid JSON", id="bad-json"),
        pytest.param('{"role": "user", "content": "hi"}\n{oops', "Line 2 of the conversation is not", id="bad-line"),
        pytest.param('[{"role": "robot", "content": "hi"}]', "Message 1 has role 'robot'", id="bad-role"),
        pytest.param('[{"role": "user", "content": 5}]', "Message 1 has no text content", id="no-text"),
        pytest.param('["hello"]', "Message 1 is not an object", id="not-object"),
        pytest.param('[{"role": "user", "content": "  "}]', "no message with text", id="only-blank"),
    ],
)  # fmt: skip
def test_each_mistake_is_named(raw: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_transcript(raw)


def test_a_conversation_too_long_is_refused_not_cut() -> None:
    with pytest.raises(InvalidInputError, match="remember it in parts"):
        read_transcript(json.dumps([{"role": "user", "content": "x" * (MAX_CHARS + 1)}]))
