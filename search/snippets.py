"""A search result's snippet as HTML: every piece of its text escaped, the matches in <mark>."""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

from search.services import Snippet


def snippet_html(snippet: Snippet) -> SafeString:
    """`snippet.text` escaped, with each highlight wrapped in `<mark>`.

    Highlights out of order are sorted; ones that overlap an earlier one, are empty or
    fall outside the text are left unmarked rather than trusted. Nothing here marks
    unescaped text safe: the result is built only from `escape` and `format_html`.
    """
    text = snippet.text
    html = SafeString()
    at = 0
    for start, end in sorted(snippet.highlights):
        if start < at or end <= start or end > len(text):
            continue
        html += escape(text[at:start])
        html += format_html("<mark>{}</mark>", text[start:end])
        at = end
    html += escape(text[at:])
    return html
