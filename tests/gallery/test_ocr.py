"""Text recognition through the real Tesseract, on text rendered with Pillow in DejaVu fonts.

Skipped as a whole where Tesseract or its English data is missing (the
system check clipsite.W004 covers that case, tested here with the engine
hidden).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.conf import LazySettings
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from clipsite.checks import check_deployment
from gallery import ocr
from gallery.ocr import RecognisedText, ocr_available, ocr_decode_side, recognise

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

needs_fonts = pytest.mark.skipif(
    not Path(FONT).is_file(), reason="DejaVu fonts (fonts-dejavu-core) are not installed"
)


@pytest.fixture(autouse=True)
def _fresh_ocr(settings: LazySettings) -> Iterator[None]:
    settings.OCR_ENABLED = True
    settings.OCR_LANGUAGES = ["eng"]
    settings.OCR_TIME_LIMIT = 10.0
    settings.OCR_MAX_SIDE = 1600
    ocr.reset_ocr()
    yield
    ocr.reset_ocr()


@pytest.fixture
def engine(_fresh_ocr: None) -> None:
    if not ocr_available():
        pytest.skip(f"text recognition is off here: {ocr.ocr_unavailable_reason()}")


def rendered(
    lines: list[str],
    *,
    size: tuple[int, int] = (1200, 800),
    font_size: int = 48,
    font: str = FONT,
    at: tuple[int, int] = (80, 100),
    ground: Image.Image | None = None,
) -> Image.Image:
    picture = ground.copy() if ground is not None else Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(picture)
    face = ImageFont.truetype(font, font_size)
    x, y = at
    for line in lines:
        draw.text((x, y), line, font=face, fill=(20, 20, 30))
        y += round(font_size * 1.8)
    return picture


def noisy_ground(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A smooth gradient under sensor grain: a photo's sky, say."""
    rng = np.random.default_rng(seed)
    width, height = size
    gradient = np.linspace(150, 230, width, dtype=np.float32)[None, :, None]
    pixels = np.broadcast_to(gradient, (height, width, 3)) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def texts(result: RecognisedText) -> list[str]:
    return [word.text.lower() for word in result.words]


@needs_fonts
@pytest.mark.usefixtures("engine")
class TestRecognise:
    @pytest.mark.parametrize("font_size", [24, 48, 110])
    def test_recognise_reads_words_at_several_sizes(self, font_size: int) -> None:
        picture = rendered(["harbour station", "ticket office 2024"], font_size=font_size)

        result = recognise(picture)

        assert texts(result) == ["harbour", "station", "ticket", "office", "2024"]
        assert result.lines == ("harbour station", "ticket office 2024")
        assert result.text == "harbour station\nticket office 2024"
        assert result.engine.startswith("tesseract 5.")
        assert result.engine.endswith("(eng)")
        assert all(word.confidence >= ocr.MIN_CONFIDENCE for word in result.words)

    def test_recognise_reads_most_of_a_text_turned_eight_degrees(self) -> None:
        drawn = ["welcome", "to", "the", "museum", "open", "daily"]
        picture = rendered(["welcome to the museum", "open daily"], font_size=40, at=(120, 260))
        turned = picture.rotate(8, resample=Image.Resampling.BICUBIC, fillcolor=(250, 250, 245))

        found = texts(recognise(turned))

        # Tesseract fits a straight baseline per word and splits some long
        # words of a turned line ("welco me"): most, not all, come back whole.
        assert len(set(found) & set(drawn)) >= 3
        assert all(0 <= value <= 1 for word in recognise(turned).words for value in word.box)

    def test_recognise_reads_text_on_a_noisy_background(self) -> None:
        picture = rendered(["fresh bread daily"], font_size=64, ground=noisy_ground((1200, 800)))

        assert texts(recognise(picture)) == ["fresh", "bread", "daily"]

    @pytest.mark.parametrize("kind", ["blank", "grain", "photo"])
    def test_recognise_finds_no_words_without_text(self, kind: str) -> None:
        if kind == "blank":
            picture = Image.new("RGB", (1600, 1200), (200, 210, 220))
        elif kind == "grain":
            picture = noisy_ground((1600, 1200), seed=3)
        else:
            picture = blobs((1600, 1200))

        result = recognise(picture)

        assert result.words == ()
        assert result.lines == ()
        assert result.engine  # it ran, and found nothing

    def test_recognise_boxes_are_fractions_where_the_word_was_drawn(self) -> None:
        # A 12 MP picture: the boxes are fractions of it, not of the downscaled copy.
        size = (4000, 3000)
        picture = Image.new("RGB", size, (255, 255, 255))
        draw = ImageDraw.Draw(picture)
        face = ImageFont.truetype(FONT, 120)
        drawn = {"castle": (2400, 2200), "river": (300, 400)}
        for word, at in drawn.items():
            draw.text(at, word, font=face, fill=(0, 0, 0))
        expected = {word: draw.textbbox(at, word, font=face) for word, at in drawn.items()}

        result = recognise(picture)

        assert sorted(texts(result)) == ["castle", "river"]
        for word in result.words:
            x, y, w, h = word.box
            assert all(0 <= value <= 1 for value in (x, y, w, h))
            assert x + w <= 1
            assert y + h <= 1
            left, top, right, bottom = expected[word.text.lower()]
            truth = (left / size[0], top / size[1], right / size[0], bottom / size[1])
            found = (x, y, x + w, y + h)
            assert found == pytest.approx(truth, abs=0.01)

    def test_recognise_drops_pure_punctuation(self) -> None:
        picture = rendered(["coffee -- ... ?!", "*** menu ***"], font_size=56)

        found = texts(recognise(picture))

        assert "coffee" in found
        assert "menu" in found
        assert all(any(character.isalnum() for character in word) for word in found)

    def test_recognise_returns_empty_when_its_time_runs_out(self, settings: LazySettings) -> None:
        settings.OCR_TIME_LIMIT = 0.001
        lines = [" ".join(random.Random(i).sample(WORDS, 6)) for i in range(14)]
        picture = rendered(lines, size=(1600, 1200), font_size=28, at=(40, 20))

        result = recognise(picture)

        assert result.words == ()
        assert result.engine  # it ran, and gave up

    def test_recognise_is_safe_from_several_threads(self) -> None:
        pictures = {
            "lantern": rendered(["lantern"], font_size=72),
            "meadow": rendered(["meadow"], font_size=72),
        }
        found: dict[str, list[list[str]]] = {word: [] for word in pictures}

        def work(word: str) -> None:
            for _ in range(3):
                found[word].append(texts(recognise(pictures[word])))

        threads = [threading.Thread(target=work, args=(word,)) for word in pictures for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert found == {word: [[word]] * 6 for word in pictures}

    def test_recognise_reads_german_with_deu(self, settings: LazySettings) -> None:
        settings.OCR_LANGUAGES = ["eng", "deu"]
        if not ocr_available():
            pytest.skip("no German language data (tesseract-ocr-deu)")
        picture = rendered(["Größe Straße Brücke"], font_size=64)

        result = recognise(picture)

        assert texts(result) == ["größe", "straße", "brücke"]
        assert result.engine.endswith("(eng+deu)")


WORDS = [
    "alpha",
    "bridge",
    "castle",
    "dinner",
    "engine",
    "forest",
    "garden",
    "harbour",
    "island",
    "jungle",
]


def blobs(size: tuple[int, int]) -> Image.Image:
    """Soft coloured shapes, blurred: a photo's composition without its text."""
    rng = random.Random(5)
    picture = Image.new("RGB", size, (90, 120, 160))
    draw = ImageDraw.Draw(picture)
    for _ in range(30):
        x, y, r = rng.uniform(0, size[0]), rng.uniform(0, size[1]), rng.uniform(40, 300)
        colour = tuple(rng.randint(30, 230) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return picture.filter(ImageFilter.GaussianBlur(12))


def test_recognise_returns_empty_when_disabled(settings: LazySettings) -> None:
    settings.OCR_ENABLED = False

    result = recognise(rendered(["harbour"], font_size=72))

    assert result == RecognisedText((), "")
    assert result.text == ""


def test_recognise_returns_empty_when_a_language_is_missing(settings: LazySettings) -> None:
    settings.OCR_LANGUAGES = ["xyz"]

    assert not ocr_available()
    assert "xyz" in (ocr.ocr_unavailable_reason() or "")
    assert recognise(rendered(["harbour"], font_size=72)) == RecognisedText((), "")


def test_recognise_returns_empty_without_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    ocr._unavailable.cache_clear()
    monkeypatch.setattr(ocr, "_tesserocr", lambda: None)

    assert not ocr_available()
    assert "tesserocr" in (ocr.ocr_unavailable_reason() or "")
    assert recognise(rendered(["harbour"], font_size=72)) == RecognisedText((), "")
    monkeypatch.undo()
    ocr._unavailable.cache_clear()


def test_check_warns_when_text_recognition_is_unavailable(settings: LazySettings) -> None:
    settings.OCR_LANGUAGES = ["xyz"]

    ids = [message.id for message in check_deployment()]

    assert "clipsite.W004" in ids


def test_check_is_quiet_when_text_recognition_is_off(settings: LazySettings) -> None:
    settings.OCR_ENABLED = False
    settings.OCR_LANGUAGES = ["xyz"]

    assert "clipsite.W004" not in [message.id for message in check_deployment()]


def test_decode_side_is_the_max_side(settings: LazySettings) -> None:
    settings.OCR_MAX_SIDE = 1234

    assert ocr_decode_side() == 1234
