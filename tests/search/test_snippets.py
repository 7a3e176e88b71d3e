from __future__ import annotations

from search.services import Snippet
from search.snippets import snippet_html


def test_snippet_html_escapes_every_piece_and_marks_the_highlights() -> None:
    snippet = Snippet(
        source="description", text="<b>café</b> & café", highlights=((14, 18), (3, 7))
    )

    assert (
        str(snippet_html(snippet)) == "&lt;b&gt;<mark>café</mark>&lt;/b&gt; &amp; <mark>café</mark>"
    )


def test_snippet_html_leaves_bad_highlights_unmarked() -> None:
    snippet = Snippet(source="text", text="one two", highlights=((0, 3), (1, 5), (4, 4), (4, 99)))

    assert str(snippet_html(snippet)) == "<mark>one</mark> two"
