"""Text in pictures, recognised by Tesseract 5 in process (tesserocr), bounded in cost.

`recognise(picture)` downscales a picture to `OCR_MAX_SIDE`, binarises it
with a local (Sauvola) threshold, and looks at its layout first: where
Tesseract finds no text line (a blank or smooth picture) it stops there.
Otherwise it recognises the words in `OCR_LANGUAGES`, giving up after
`OCR_TIME_LIMIT` seconds; a textured photo without text is recognised too
(0.4 s at 1600 px), and its false words mostly fall below the floor. Words
below `MIN_CONFIDENCE` and words without a letter or digit are dropped.
Tesseract was chosen over RapidOCR by `bench/ocr.py` (the figures are in
bench/README.md).

The engine is optional at run time: where tesserocr cannot load, or a
language's data (`<lang>.traineddata`, Debian's `tesseract-ocr-<lang>`) is not
found, `ocr_unavailable_reason()` says why (the system check
`clipsite.W004`), and `recognise` returns `RecognisedText((), "")` without
raising. tesserocr's binary wheel carries libtesseract but no language data:
it is looked for in `TESSDATA_PREFIX` and then where Debian, Homebrew and a
source build put it.

Thread-safe: each thread gets its own Tesseract instance (an instance is not
safe to share), and tesserocr releases the GIL while Tesseract works, so the
workers' decode threads recognise in parallel.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from django.conf import settings
from PIL import Image

logger = logging.getLogger(__name__)

# Where Tesseract's language data lives when TESSDATA_PREFIX does not say:
# Debian and Ubuntu (5, then 4), Fedora, a source build, Homebrew.
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)
# Tesseract's word confidence, 0..100. On bench/ocr.py's corpus the words it
# read right scored 83 and above (nearly all 88+), and of the ~1,500 false
# words it found in textures all but a handful scored below 80.
MIN_CONFIDENCE = 80.0


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple[
        float, float, float, float
    ]  # x, y, width, height as fractions (0..1) of the picture given
    confidence: float  # 0..100


@dataclass(frozen=True)
class RecognisedText:
    """What `recognise` found. `engine` is "" when recognition did not run (off, unavailable,
    or an engine error); a picture it ran on and found nothing in has no words and an engine."""

    words: tuple[Word, ...]
    engine: str  # e.g. "tesseract 5.5.4 (eng)"; "" when recognition did not run
    lines: tuple[str, ...] = ()  # the words joined by line, reading order

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


NOTHING = RecognisedText((), "")
_local = threading.local()


def ocr_enabled() -> bool:
    """Whether indexing recognises text here: `OCR_ENABLED`, and the engine can run."""
    return bool(settings.OCR_ENABLED) and ocr_available()


def ocr_available() -> bool:
    """Whether the engine and every language in `OCR_LANGUAGES` are present (cached)."""
    return ocr_unavailable_reason() is None


def ocr_unavailable_reason() -> str | None:
    """Why text recognition cannot run here, or None when it can (cached per language list)."""
    return _unavailable(tuple(settings.OCR_LANGUAGES))


def ocr_decode_side() -> int:
    """The long side, in pixels, to decode a stored original at for `recognise`.

    Anything larger is downscaled again inside `recognise`, so decoding at
    this size (or a little above, as libjpeg's draft scales fall) loses nothing.
    """
    return int(settings.OCR_MAX_SIDE)


def tessdata_path(languages: tuple[str, ...] = ("eng",)) -> str | None:
    """The first tessdata directory that holds every language's `.traineddata`, or None."""
    candidates: list[Path] = []
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        # Tesseract 4+ takes the tessdata directory itself; 3 took its parent.
        candidates += [Path(prefix), Path(prefix) / "tessdata"]
    candidates += [Path(directory) for directory in TESSDATA_DIRS]
    for directory in candidates:
        if all((directory / f"{language}.traineddata").is_file() for language in languages):
            return str(directory)
    return None


def recognise(picture: Image.Image) -> RecognisedText:
    """The words in a picture, with their boxes as fractions of it, in reading order.

    Takes a picture of any size and mode (RGB as decoded), downscales a
    grey copy to `OCR_MAX_SIDE` and recognises `OCR_LANGUAGES` in it, bounded
    by `OCR_TIME_LIMIT`. Returns `RecognisedText((), "")` when `OCR_ENABLED`
    is off or the engine or a language is missing; no words (with the engine
    named) when the picture holds no text or its time ran out. Never raises
    for a picture's content: an engine error is logged and returns nothing.
    Touches nothing but this thread's Tesseract instance.
    """
    if not settings.OCR_ENABLED:
        return NOTHING
    languages = tuple(settings.OCR_LANGUAGES)
    if not languages or _unavailable(languages) is not None:
        return NOTHING
    tesserocr = _tesserocr()
    if tesserocr is None:  # _unavailable() said so already; this tells mypy
        return NOTHING
    lang = "+".join(languages)
    engine = f"tesseract {_version(tesserocr)} ({lang})"
    try:
        grey = _prepared(picture, int(settings.OCR_MAX_SIDE))
        api = _api(tesserocr, lang)
        api.SetImage(grey)
        # The layout analysis is Tesseract's own text detector: no text line,
        # nothing to recognise (Recognize reuses this layout, so it is not done twice).
        if not _has_text_lines(tesserocr, api):
            return RecognisedText((), engine)
        limit_ms = max(1, round(float(settings.OCR_TIME_LIMIT) * 1000))
        if not api.Recognize(timeout=limit_ms):
            logger.warning(
                "Text recognition gave up after OCR_TIME_LIMIT=%ss on a %dx%d picture",
                settings.OCR_TIME_LIMIT,
                *grey.size,
            )
            return RecognisedText((), engine)
        words, lines = _read_words(tesserocr, api, grey.size)
    except Exception:  # an engine failure must not fail indexing
        logger.warning("Text recognition failed", exc_info=True)
        _forget_api()
        return NOTHING
    finally:
        api_now = getattr(_local, "api", None)
        if api_now is not None:
            # Frees the picture and its results now, not at the next call.
            api_now.Clear()
    return RecognisedText(words, engine, lines)


def reset_ocr() -> None:
    """Forget the cached availability (for tests that change languages or data)."""
    _unavailable.cache_clear()
    _tesserocr.cache_clear()
    _forget_api()


# -- internals -----------------------------------------------------------------------


@functools.cache
def _tesserocr() -> ModuleType | None:
    try:
        return importlib.import_module("tesserocr")
    except (ImportError, OSError):  # not installed, or its libtesseract cannot load
        return None


@functools.cache
def _unavailable(languages: tuple[str, ...]) -> str | None:
    tesserocr = _tesserocr()
    if tesserocr is None:
        return "tesserocr (Tesseract's Python binding) is not installed or cannot load"
    if not languages:
        return "OCR_LANGUAGES is empty"
    path = tessdata_path(languages)
    if path is None:
        missing = ", ".join(
            f"{language} (tesseract-ocr-{language})"
            for language in languages
            if tessdata_path((language,)) is None
        )
        return (
            f"no Tesseract language data for {missing or '+'.join(languages)} "
            f"in TESSDATA_PREFIX or {', '.join(TESSDATA_DIRS[:2])}"
        )
    try:
        api = tesserocr.PyTessBaseAPI(path=path, lang="+".join(languages))
    except RuntimeError as error:
        return f"Tesseract cannot load {'+'.join(languages)} from {path}: {error}"
    api.End()
    return None


def _version(tesserocr: ModuleType) -> str:
    # "tesseract 5.5.4\n leptonica-1.87.0\n ..." -> "5.5.4"
    return str(tesserocr.tesseract_version()).split()[1]


def _api(tesserocr: ModuleType, lang: str) -> Any:
    """This thread's Tesseract instance for `lang`, created on first use."""
    if getattr(_local, "lang", None) != lang:
        _forget_api()
        _local.api = tesserocr.PyTessBaseAPI(
            path=tessdata_path(tuple(lang.split("+"))) or "",
            lang=lang,
            # Sparse text: words anywhere in a photo, not only in a page's columns.
            psm=tesserocr.PSM.SPARSE_TEXT,
            oem=tesserocr.OEM.LSTM_ONLY,
            # Sauvola's local threshold, not one Otsu threshold for the whole
            # picture: on bench/ocr.py's photo-like grounds it read 35 % of the
            # words against 24 %, at 85 % precision against 47 %, in half the time.
            variables={"thresholding_method": "2"},
        )
        _local.lang = lang
    return _local.api


def _forget_api() -> None:
    api = getattr(_local, "api", None)
    if api is not None:
        api.End()
    _local.api = None
    _local.lang = None


def _prepared(picture: Image.Image, max_side: int) -> Image.Image:
    """A grey copy no larger than `max_side`: Tesseract binarises grey, and
    converting before the resize moves a third of the bytes."""
    grey = picture.convert("L") if picture.mode != "L" else picture
    if max(grey.size) <= max_side:
        return grey
    scale = max_side / max(grey.size)
    size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
    return grey.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _has_text_lines(tesserocr: ModuleType, api: Any) -> bool:
    layout = api.AnalyseLayout()
    if layout is None:
        return False
    text_types = {tesserocr.PT.FLOWING_TEXT, tesserocr.PT.HEADING_TEXT, tesserocr.PT.PULLOUT_TEXT}
    text_types |= {tesserocr.PT.VERTICAL_TEXT, tesserocr.PT.CAPTION_TEXT, tesserocr.PT.TABLE}
    text_types.add(tesserocr.PT.INLINE_EQUATION)
    while True:
        if layout.BlockType() in text_types:
            return True
        if not layout.Next(tesserocr.RIL.BLOCK):
            return False


def _read_words(
    tesserocr: ModuleType, api: Any, size: tuple[int, int]
) -> tuple[tuple[Word, ...], tuple[str, ...]]:
    width, height = size
    words: list[Word] = []
    lines: list[str] = []
    line: list[str] = []
    level = tesserocr.RIL.WORD
    iterator = api.GetIterator()
    if iterator is None:
        return (), ()
    for item in tesserocr.iterate_level(iterator, level):
        if item.IsAtBeginningOf(tesserocr.RIL.TEXTLINE) and line:
            lines.append(" ".join(line))
            line = []
        try:
            text = (item.GetUTF8Text(level) or "").strip()
        except RuntimeError:  # tesserocr raises for a word with no text ("No text returned")
            continue
        confidence = float(item.Confidence(level))
        box = item.BoundingBox(level)
        if not text or box is None or confidence < MIN_CONFIDENCE:
            continue
        if not any(character.isalnum() for character in text):
            continue
        left, top, right, bottom = box
        words.append(
            Word(
                text=text,
                box=(left / width, top / height, (right - left) / width, (bottom - top) / height),
                confidence=confidence,
            )
        )
        line.append(text)
    if line:
        lines.append(" ".join(line))
    return tuple(words), tuple(lines)
