"""Template filters of the search pages: `{% load search_pages %}`."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from search.services import Snippet
from search.snippets import snippet_html

register = template.Library()


@register.filter
def marked(snippet: Snippet | None) -> SafeString:
    """A result's snippet with its matched words in <mark>, escaped ("" without one)."""
    return snippet_html(snippet) if snippet is not None else SafeString()
