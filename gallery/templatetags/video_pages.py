"""Template filters of the pages that show videos: `{% load video_pages %}`."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()


@register.filter
def duration(seconds: Any) -> str:
    """Seconds as a player shows them: "0:07", "1:42", "1:02:05" (whole seconds, rounded)."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(value) or value < 0:
        return ""
    minutes, secs = divmod(int(value + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
