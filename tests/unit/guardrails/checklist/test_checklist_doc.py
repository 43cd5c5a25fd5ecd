"""Parsing markdown checklists (items, keys, evidence, sections) and ticking one item."""

from __future__ import annotations

import re

import pytest

from guardrails.checklist.doc import (
    ChecklistDoc,
    extract_evidence,
    item_key,
    split_lines,
    tick,
)

RUN_A = ".runs/0101-paint-shed/cli/2026-01-02T03-04-05-678Z-0a1b2c3d/manifest.json"
RUN_B = ".runs/0101-paint-shed/cli/2026-01-09T10-11-12-131Z-deadbeef/manifest.json"

SHED = f"""# Shed painting (0101)

Intro text mentioning `{RUN_B}` outside any item.

## Prep
- [x] Buy primer — two litres; Evidence: `{RUN_A}`.
- [ ] Sand the boards
  - [X] Rough grit pass; Evidence: {RUN_A}
    * [ ] Fine grit pass
+ [ ] Plus bullet item
1. [x] Numbered item Evidence: `{RUN_A}`, `{RUN_B}`, again `{RUN_A}`

```markdown
- [x] Not an item: inside a code fence
```

- [] not an item (no space in the box)
-[ ] not an item (no space after the bullet)
- [x]glued text is not an item either
"""


def test_items_have_number_line_state_indent_bullet_text() -> None:
    doc = ChecklistDoc.parse(SHED)
    assert [(i.number, i.line, i.state, i.mark, i.indent, i.bullet) for i in doc.items] == [
        (1, 6, "[x]", "x", "", "-"),
        (2, 7, "[ ]", " ", "", "-"),
        (3, 8, "[x]", "X", "  ", "-"),
        (4, 9, "[ ]", " ", "    ", "*"),
        (5, 10, "[ ]", " ", "", "+"),
        (6, 11, "[x]", "x", "", "1."),
    ]
    assert doc.items[0].text == f"Buy primer — two litres; Evidence: `{RUN_A}`."
    assert doc.items[3].text == "Fine grit pass"


def test_evidence_is_every_cited_manifest_path_without_repeats() -> None:
    doc = ChecklistDoc.parse(SHED)
    assert [i.evidence for i in doc.items] == [
        (RUN_A,),
        (),
        (RUN_A,),
        (),
        (),
        (RUN_A, RUN_B),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"see `{RUN_A}`", (RUN_A,)),
        (f"see {RUN_A}.", (RUN_A,)),
        (f"see ./{RUN_A}, then", (RUN_A,)),
        (f"(evidence {RUN_A})", (RUN_A,)),
        (f"two: {RUN_A} {RUN_B}", (RUN_A, RUN_B)),
        # Placeholders, other files of a run, absolute paths and lookalikes are not evidence.
        ("`.runs/0101-paint-shed/cli/<run-id>/manifest.json`", ()),
        (".runs/0101-paint-shed/cli/2026-01-02T03-04-05-678Z-0a1b2c3d/events.jsonl", ()),
        (f"/home/someone/{RUN_A}", ()),
        (f"x{RUN_A}", ()),
        (f"{RUN_A}x", ()),
        (".runs/0101-paint-shed/metrics.json", ()),
    ],
)
def test_extract_evidence(text: str, expected: tuple[str, ...]) -> None:
    assert extract_evidence(text) == expected


def test_evidence_under_another_runs_directory() -> None:
    text = (
        "done; Evidence: `artifacts/runs/t1/cli/r1/manifest.json` and "
        "`.runs/t1/cli/r1/manifest.json`"
    )
    assert extract_evidence(text, runs_prefix="artifacts/runs") == (
        "artifacts/runs/t1/cli/r1/manifest.json",
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Buy primer — two litres; Evidence: `x`", "buy primer"),
        ("Buy primer \u2013 en dash works too", "buy primer"),
        ("Buy  *primer*   now; evidence `x`", "buy primer now"),
        ("Buy `primer` Evidence: x", "buy primer"),
        ("Set **MY_FLAG** for _everyone_", "set myflag for everyone"),
        ("Trailing punctuation is dropped.", "trailing punctuation is dropped"),
        ("A-hyphen - is not a separator", "a-hyphen - is not a separator"),
        ("~~Struck~~ text", "struck text"),
        ("Evidence: `only evidence`", "evidence: only evidence"),
        (f"Polish it; {RUN_A}", "polish it"),
        (f"Polish it (`{RUN_A}`)", "polish it ( )"),
        ("", ""),
    ],
)
def test_item_key(text: str, key: str) -> None:
    assert item_key(text) == key


def test_keys_match_across_differently_worded_evidence() -> None:
    one = ChecklistDoc.parse(f"- [x] Paint the `door` — blue; Evidence: {RUN_A}\n").items[0]
    two = ChecklistDoc.parse(f"* [ ] paint the door; Evidence: {RUN_B} (later)\n").items[0]
    assert one.key == two.key == "paint the door"


def test_crlf_lines_and_numbers() -> None:
    text = "# T\r\n\r\n- [x] One; Evidence: `" + RUN_A + "`\r\n- [ ] Two\r\n"
    doc = ChecklistDoc.parse(text)
    assert [(i.line, i.text, i.evidence) for i in doc.items] == [
        (3, f"One; Evidence: `{RUN_A}`", (RUN_A,)),
        (4, "Two", ()),
    ]
    assert split_lines(text) == ["# T", "", f"- [x] One; Evidence: `{RUN_A}`", "- [ ] Two"]


def test_undecodable_bytes_and_a_bom_do_not_break_parsing() -> None:
    data = b"\xef\xbb\xbf- [ ] Caf\xe9 \xff item\n- [x] Second; Evidence: " + RUN_A.encode() + b"\n"
    doc = ChecklistDoc.from_bytes(data)
    assert [(i.line, i.checked) for i in doc.items] == [(1, False), (2, True)]
    assert doc.items[0].text == "Caf\ufffd \ufffd item"
    assert doc.items[1].evidence == (RUN_A,)


def test_fences_of_tildes_and_longer_backtick_fences() -> None:
    text = (
        "~~~\n- [ ] hidden\n```\n- [ ] still hidden\n~~~\n"
        "````\n- [ ] hidden\n```\n````\n- [ ] seen\n"
    )
    assert [i.line for i in ChecklistDoc.parse(text).items] == [10]


def test_label_is_short_and_stops_at_the_separator() -> None:
    doc = ChecklistDoc.parse(
        f"- [x] Buy primer — two litres; Evidence: `{RUN_A}`\n- [ ] {'word ' * 20}\n"
    )
    assert doc.items[0].label == "Buy primer"
    assert len(doc.items[1].label) == 60
    assert doc.items[1].label.endswith("...")


def test_scoped_keeps_items_under_headings_naming_the_task() -> None:
    text = (
        "# Board\n- [ ] board item\n"
        "# Shed (0101)\n## Prep\n- [ ] shed one\n### Deep\n- [x] shed two\n"
        "# Fence (0202)\n- [ ] fence item\n"
    )
    doc = ChecklistDoc.parse(text)
    mention = (re.compile(r"(?<!\w)0101(?!\w)"),)
    assert [i.text for i in doc.scoped(mention)] == ["shed one", "shed two"]
    # Sections of other tasks only: none of their items are this task's.
    nothing = (re.compile("9999"),)
    assert doc.scoped(nothing) == ()
    # No heading names any task: the whole document is the task's.
    flat = ChecklistDoc.parse("# Board\n- [ ] one\n## Later\n- [x] two\n")
    assert [i.text for i in flat.scoped(nothing)] == ["one", "two"]


def test_examples_in_indented_fences_and_comments_are_not_items() -> None:
    text = (
        "- [ ] real one\n"
        "    ```markdown\n"
        "    - [x] example inside an indented fence\n"
        "    ```python\n"  # an info string does not close a fence
        "    - [x] still inside\n"
        "    ```\n"
        "\t~~~\n"
        "- [x] inside a tab-indented fence\n"
        "~~~\n"
        "<!-- a note\n"
        "- [x] commented out\n"
        "-->\n"
        "- [ ] real two\n"
    )
    doc = ChecklistDoc.parse(text)
    assert [(i.number, i.line, i.text) for i in doc.items] == [
        (1, 1, "real one"),
        (2, 13, "real two"),
    ]


def test_cited_run_ids_are_bounded() -> None:
    long_run = "a" * 300
    doc = ChecklistDoc.parse(f"- [x] done; Evidence: `.runs/t/cli/{long_run}/manifest.json`\n")
    assert doc.items[0].evidence == ()


def test_tick_changes_one_line_and_keeps_crlf_and_the_missing_final_newline() -> None:
    text = "# T\r\n- [ ] One  \r\n- [ ] Two"
    assert tick(text, 2, RUN_A) == f"# T\r\n- [x] One; Evidence: `{RUN_A}`\r\n- [ ] Two"
    assert tick(text, 3, RUN_A) == f"# T\r\n- [ ] One  \r\n- [x] Two; Evidence: `{RUN_A}`"


def test_tick_keeps_indentation_and_bullet_and_the_trailing_newline() -> None:
    text = "intro\n    * [ ] Nested thing\n"
    assert tick(text, 2, RUN_B) == f"intro\n    * [x] Nested thing; Evidence: `{RUN_B}`\n"
    assert tick(text, 2) == "intro\n    * [x] Nested thing\n"


def test_tick_an_item_without_text() -> None:
    ticked = tick("- [ ]\n", 1, RUN_A)
    assert ticked == f"- [x] Evidence: `{RUN_A}`\n"
    assert ChecklistDoc.parse(ticked).items[0].evidence == (RUN_A,)


@pytest.mark.parametrize("line", [1, 3, 4, 0])
def test_tick_refuses_what_is_not_an_open_item(line: int) -> None:
    with pytest.raises(ValueError, match=f"line {line} "):
        tick("# title\n- [ ] open\n- [x] done\n", line, RUN_A)


def test_a_ticked_item_reparses_with_the_same_key_and_the_evidence() -> None:
    before = ChecklistDoc.parse(SHED)
    after = ChecklistDoc.parse(tick(SHED, 7, RUN_B))
    assert after.items[1].checked
    assert after.items[1].key == before.items[1].key == "sand the boards"
    assert after.items[1].evidence == (RUN_B,)
    assert [i.checked for i in after.items[2:]] == [i.checked for i in before.items[2:]]


def test_evidence_on_a_wrapped_continuation_line_belongs_to_the_item() -> None:
    text = (
        "- [x] A long item whose evidence a formatter wrapped onto the next line;\n"
        f"  Evidence: `{RUN_A}`\n"
        "- [x] Not wrapped\n"
        "\n"
        f"  `{RUN_B}` (after a blank line: a paragraph, not this item's)\n"
        "- [ ] Open\n"
        f"`{RUN_B}` (not indented: not a continuation)\n"
    )
    doc = ChecklistDoc.parse(text)
    assert [(i.line, i.evidence) for i in doc.items] == [(1, (RUN_A,)), (3, ()), (6, ())]
    assert doc.items[0].key == "a long item whose evidence a formatter wrapped onto the next line"
