"""Template filters of the gallery pages: `{% load gallery_pages %}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

from django import template

register = template.Library()


@register.filter
def word_boxes(words: Any) -> list[dict[str, Any]]:
    """`Image.text_words` as boxes a page can place over the picture.

    Each is {"text", "confidence", "style"}: `style` positions it in percent of the
    picture ("left: ..%; top: ..%; width: ..%; height: ..%"). Entries that are not
    a word with a box of four fractions are skipped, and boxes are clipped to the picture.
    """
    boxes = []
    for word in words if isinstance(words, list) else ():
        box = word.get("b") if isinstance(word, dict) else None
        text = word.get("t") if isinstance(word, dict) else None
        if not isinstance(text, str) or not text or not _is_box(box):
            continue
        x, y, w, h = (min(max(float(v), 0.0), 1.0) for v in box)
        w, h = min(w, 1.0 - x), min(h, 1.0 - y)
        sides = {"left": x, "top": y, "width": w, "height": h}
        confidence = word.get("c")
        boxes.append(
            {
                "text": text,
                "confidence": confidence if isinstance(confidence, int | float) else None,
                "style": "; ".join(f"{k}: {v * 100:.2f}%" for k, v in sides.items()),
            }
        )
    return boxes


def _is_box(box: Any) -> TypeGuard[Sequence[float]]:
    return (
        isinstance(box, list | tuple)
        and len(box) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    )
