"""Labelled folders: images plus ``labels.jsonl``, what ``evaluate`` accepts for any data.

One JSON object per line::

    {"file": "0001.png", "caption": "a large red circle",
     "labels": {"shape": "circle", "colour": "red", "size": "large"}}

``file`` is relative to the folder, ``caption`` is a free-text description and
``labels`` (optional) maps attribute names to class names.  Any image format
PIL reads is fine.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class LabelledImage:
    """One line of ``labels.jsonl``: an image file, its caption and its labels."""

    file: str
    caption: str
    labels: dict[str, str] = field(default_factory=dict)


def _encode_image(image: Image.Image, image_format: str, rng: random.Random) -> bytes:
    """PNG bytes, or JPEG bytes at a random quality (real galleries mix both)."""
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=rng.randint(60, 95))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def write_labelled_folder(
    folder: str | Path,
    items: Iterable[tuple[Image.Image, str, Mapping[str, str]]],
    *,
    image_format: str = "mixed",
    seed: int = 0,
) -> list[LabelledImage]:
    """Write images plus ``labels.jsonl`` (format in the module docstring).

    ``image_format`` is "png", "jpeg" or "mixed" (each image picks one).
    """
    if image_format not in ("png", "jpeg", "mixed"):
        raise ValueError("image_format must be png, jpeg or mixed")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = []
    for index, (image, caption, labels) in enumerate(items):
        fmt = image_format if image_format != "mixed" else rng.choice(("png", "jpeg"))
        name = f"{index:05d}.{'jpg' if fmt == 'jpeg' else 'png'}"
        (root / name).write_bytes(_encode_image(image, fmt, rng))
        written.append(LabelledImage(name, caption, dict(labels)))
    lines = [
        json.dumps({"file": item.file, "caption": item.caption, "labels": item.labels})
        for item in written
    ]
    (root / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def read_labelled_folder(folder: str | Path) -> list[LabelledImage]:
    """Read ``labels.jsonl``; raise ValueError naming the line when one is malformed."""
    root = Path(folder)
    items = []
    text = (root / "labels.jsonl").read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            item = LabelledImage(
                str(record["file"]),
                str(record["caption"]),
                {str(k): str(v) for k, v in (record.get("labels") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"labels.jsonl line {number}: {error}") from error
        items.append(item)
    return items
