"""From a file's bytes to its vector, the product against the reference, for every kind of file.

The product: the bytes stored, then `load_picture` (indexing's decode: JPEG
draft, box reduction, mode and colour handling, EXIF orientation) and
`inspect_image` (upload validation's decode, whose picture also makes the
thumbnail), each encoded by `ClipEncoder` at fp32.  The reference: the file
fully decoded, EXIF-upright (`ImageOps.exif_transpose`), converted to sRGB
by its ICC profile, 16-bit values scaled to 8 bits, composited onto white
(transformers' `convert_to_rgb`), then `CLIPProcessor` and
`CLIPModel.get_image_features`, normalised.

Two models: the demo model (80 px, squashed) and a ViT-B/32-shaped model
with random weights (224 px, short side and centre crop).  A random model's
vectors all lie close together, so its cosine is taken after subtracting
their mean over these files: what is left is what tells images apart.  The
bar is 0.999 for each file and model.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageCms, ImageDraw, ImageOps

from encoder.clip import ClipEncoder
from gallery.indexing import decode_short_side, load_picture
from gallery.validation import inspect_image
from tests.support.icc import cmyk_profile, display_p3_profile
from tests.support.models import save_b32_shaped

ROOT = Path(__file__).resolve().parents[2]
BAR = 0.999


# --- the files ---------------------------------------------------------------


def scene(size: tuple[int, int], seed: int) -> PILImage.Image:
    """A photo-like RGB picture that looks the same at any size.

    A smooth colour field with mid-scale variation, sharp shapes in strong
    colours, rows of thin strokes like text, and a fine grain: the detail a
    decode that filters too little, or looks at the wrong scale, gets wrong.
    """
    width, height = size
    rng = np.random.default_rng(seed)

    def field(cells: tuple[int, int]) -> np.ndarray:
        low = PILImage.fromarray(rng.integers(0, 256, (*cells, 3), dtype=np.uint8))
        return np.asarray(low.resize(size, PILImage.Resampling.BICUBIC), dtype=np.int16)

    pixels = field((6, 8)) + (field((24, 32)) - 128) // 4
    pixels += rng.integers(-10, 11, (height, width, 1), dtype=np.int16)
    image = PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)

    draw.ellipse(box(0.08, 0.12, 0.42, 0.58), fill=(220, 30, 30))
    draw.rectangle(box(0.55, 0.5, 0.9, 0.88), fill=(20, 40, 200))
    draw.polygon(
        [(0.6 * width, 0.1 * height), (0.95 * width, 0.4 * height), (0.5 * width, 0.45 * height)],
        fill=(250, 220, 40),
    )
    stroke = max(1, height // 150)
    for row in range(6):
        y = round((0.66 + row * 0.05) * height)
        for column in range(10):
            x = round((0.06 + column * 0.045) * width)
            length = round((0.015 + 0.02 * ((row * 7 + column * 3) % 5) / 4) * width)
            draw.rectangle((x, y, x + length, y + stroke), fill=(15, 15, 15))
    return image


def screenshot(size: tuple[int, int], colours: int = 64) -> PILImage.Image:
    """A palette screenshot: flat panels, text-like strokes one or two pixels wide."""
    width, height = size
    image = PILImage.new("RGB", size, (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, height // 14), fill=(40, 44, 52))
    draw.rectangle((0, height // 14, width // 5, height), fill=(228, 230, 235))
    draw.rectangle((width // 3, height // 5, 2 * width // 3, height // 2), fill=(66, 133, 244))
    draw.ellipse(
        (3 * width // 4, 2 * height // 3, 9 * width // 10, 9 * height // 10), fill=(234, 67, 53)
    )
    rng = np.random.default_rng(5)
    for line in range(40):
        y = height // 8 + line * (height // 48)
        x = width // 4 + int(rng.integers(0, width // 20))
        for _word in range(int(rng.integers(4, 12))):
            length = int(rng.integers(width // 80, width // 25))
            draw.rectangle((x, y, x + length, y + max(1, height // 900)), fill=(30, 30, 30))
            x += length + width // 160
    return image.quantize(colours, dither=PILImage.Dither.NONE)


def with_alpha(image: PILImage.Image, seed: int) -> PILImage.Image:
    """`image` cut out as a soft blob with a half-transparent band, garbage under the transparency.

    The transparent pixels' colours are noise, so a decode that does not
    composite them onto white shows.
    """
    width, height = image.size
    y, x = np.mgrid[0:height, 0:width]
    distance = np.hypot((x - width / 2) / (0.42 * width), (y - height / 2) / (0.4 * height))
    alpha = np.clip((1.0 - distance) * 12, 0, 1) * 255
    alpha[(y > 0.7 * height) & (alpha > 0)] = 128
    rgb = np.asarray(image.convert("RGB")).copy()
    noise = np.random.default_rng(seed).integers(0, 256, rgb.shape, dtype=np.uint8)
    rgb[alpha == 0] = noise[alpha == 0]
    return PILImage.fromarray(np.dstack([rgb, alpha.astype(np.uint8)]), "RGBA")


def encoded(image: PILImage.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        options.setdefault("compress_level", 1)  # the test's time goes on decoding, not on zlib
    image.save(out, fmt, **options)
    return out.getvalue()


def png_16_bit(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, or RGB: 48-bit) written directly: Pillow writes only grey at 16 bits."""
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    big_endian = pixels.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in big_endian)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def sixteen_bit(size: tuple[int, int], seed: int, *, channels: int = 1) -> np.ndarray:
    """The scene at 16 bits a channel, using the whole range (as a scan does)."""
    pixels = np.asarray(scene(size, seed), dtype=np.uint16) * 257
    pixels += np.random.default_rng(seed).integers(0, 257, pixels.shape, dtype=np.uint16)
    return pixels if channels == 3 else pixels[..., 1]


def oriented_jpeg(orientation: int, size: tuple[int, int] = (1600, 1200)) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    return encoded(scene(size, 40 + orientation), "JPEG", quality=90, exif=exif.tobytes())


def animated(fmt: str, size: tuple[int, int]) -> bytes:
    frames = [scene(size, seed) for seed in (50, 51, 52)]
    if fmt == "GIF":
        frames = [frame.quantize(255) for frame in frames]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=80, loop=0)


def cmyk_jpeg(size: tuple[int, int], *, profile: bool) -> bytes:
    image = scene(size, 60).convert("CMYK")
    extra = {"icc_profile": cmyk_profile()} if profile else {}
    return encoded(image, "JPEG", quality=92, **extra)


CASES: dict[str, Callable[[], bytes]] = {
    "jpeg-rgb-12mp": lambda: encoded(scene((4000, 3000), 1), "JPEG", quality=90),
    "jpeg-rgb-640x480": lambda: encoded(scene((640, 480), 2), "JPEG", quality=90),
    "jpeg-progressive-3000x2000": lambda: encoded(
        scene((3000, 2000), 3), "JPEG", quality=88, progressive=True
    ),
    "jpeg-grey-1600x1200": lambda: encoded(scene((1600, 1200), 4).convert("L"), "JPEG"),
    "jpeg-47x31": lambda: encoded(scene((47, 31), 5), "JPEG", quality=95),
    **{f"jpeg-exif-{o}": functools.partial(oriented_jpeg, o) for o in range(1, 9)},  # 1-8
    "jpeg-exif-6-12mp": lambda: oriented_jpeg(6, (4000, 3000)),
    "jpeg-cmyk-1600x1200": lambda: cmyk_jpeg((1600, 1200), profile=False),
    "jpeg-cmyk-icc-1600x1200": lambda: cmyk_jpeg((1600, 1200), profile=True),
    "jpeg-p3-icc-2000x1500": lambda: encoded(
        scene((2000, 1500), 7), "JPEG", quality=90, icc_profile=display_p3_profile()
    ),
    "png-rgb-12mp": lambda: encoded(scene((4000, 3000), 8), "PNG"),
    "png-rgb-2000x1500": lambda: encoded(scene((2000, 1500), 9), "PNG"),
    "png-rgb-31x47": lambda: encoded(scene((31, 47), 10), "PNG"),
    "png-p3-icc-3000x2000": lambda: encoded(
        scene((3000, 2000), 24), "PNG", icc_profile=display_p3_profile()
    ),
    "png-grey-2000x1500": lambda: encoded(scene((2000, 1500), 11).convert("L"), "PNG"),
    "png-1bit-1000x750": lambda: encoded(scene((1000, 750), 12).convert("1"), "PNG"),
    "png-1bit-480x320": lambda: encoded(screenshot((480, 320)).convert("1"), "PNG"),
    "png-palette-screenshot-2880x1800": lambda: encoded(screenshot((2880, 1800)), "PNG"),
    "png-palette-transparent-1200x900": lambda: encoded(
        with_alpha(scene((1200, 900), 13), 13).quantize(128), "PNG"
    ),
    "png-rgba-2000x1500": lambda: encoded(with_alpha(scene((2000, 1500), 14), 14), "PNG"),
    "png-rgba-p3-icc-1200x900": lambda: encoded(
        with_alpha(scene((1200, 900), 15), 15), "PNG", icc_profile=display_p3_profile()
    ),
    "png-la-1000x750": lambda: encoded(with_alpha(scene((1000, 750), 16), 16).convert("LA"), "PNG"),
    "png-grey-transparent-value-800x600": lambda: encoded(  # the text strokes' grey
        scene((800, 600), 17).convert("L"), "PNG", transparency=15
    ),
    "png-16bit-grey-2400x1800": lambda: png_16_bit(sixteen_bit((2400, 1800), 18)),
    "png-48bit-rgb-1600x1200": lambda: png_16_bit(sixteen_bit((1600, 1200), 19, channels=3)),
    "webp-rgb-2000x1500": lambda: encoded(scene((2000, 1500), 20), "WEBP", quality=90),
    "webp-rgba-1200x900": lambda: encoded(
        with_alpha(scene((1200, 900), 21), 21), "WEBP", quality=90
    ),
    "webp-animated-640x480": lambda: animated("WEBP", (640, 480)),
    "gif-animated-480x360": lambda: animated("GIF", (480, 360)),
    "gif-transparent-800x600": lambda: encoded(
        with_alpha(scene((800, 600), 22), 22).quantize(255), "GIF"
    ),
    "gif-1bit-640x480": lambda: encoded(screenshot((640, 480)).convert("1"), "GIF"),
    "heif-1200x900": lambda: encoded(scene((1200, 900), 23), "HEIF", quality=90),
    "avif-1200x900": lambda: encoded(scene((1200, 900), 25), "AVIF", quality=80, speed=8),
    "tiff-16bit-grey-1600x1200": lambda: encoded(
        PILImage.fromarray(sixteen_bit((1600, 1200), 26)), "TIFF", compression="tiff_deflate"
    ),
    "tiff-cmyk-1600x1200": lambda: encoded(
        scene((1600, 1200), 27).convert("CMYK"), "TIFF", compression="tiff_lzw"
    ),
}


# --- the reference -------------------------------------------------------------


def reference_picture(data: bytes) -> PILImage.Image:
    """The file as the reference sees it: all its pixels, upright, sRGB, on white, 8-bit RGB.

    Written without gallery.decoding, from Pillow, littlecms and transformers.
    """
    from transformers.image_transforms import convert_to_rgb

    opened = PILImage.open(io.BytesIO(data))
    opened.load()
    image: PILImage.Image = ImageOps.exif_transpose(opened)
    profile = image.info.get("icc_profile")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        image = PILImage.fromarray(np.rint(values * 255 / 65535).astype(np.uint8), "L")
    if profile:
        alpha = image.has_transparency_data
        if image.mode not in ("RGB", "RGBA", "CMYK", "L"):
            image = image.convert("RGBA" if alpha else "RGB")
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
        assert converted is not None  # None only when converting in place
        image = converted
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    return PILImage.fromarray(np.asarray(convert_to_rgb(image, return_numpy=True)))


# --- the models ----------------------------------------------------------------


@dataclass
class Model:
    """One model, as the product and as the reference run it."""

    name: str
    path: Path
    centred: bool
    encoder: ClipEncoder
    processor: Any
    reference_model: Any
    references: dict[str, np.ndarray]

    def reference_vector(self, picture: PILImage.Image) -> np.ndarray:
        import torch

        pixels = self.processor(images=[picture], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            output = self.reference_model.get_image_features(pixel_values=pixels)
        features = output if isinstance(output, torch.Tensor) else output.pooler_output
        vector = features[0].numpy().astype(np.float64)
        return vector / np.linalg.norm(vector)

    def cosine(self, vector: np.ndarray, case: str) -> float:
        reference = self.references[case]
        ours = np.asarray(vector, dtype=np.float64)
        if self.centred:
            centre = np.mean(list(self.references.values()), axis=0)
            reference, ours = reference - centre, ours - centre
        return float(ours @ reference / (np.linalg.norm(ours) * np.linalg.norm(reference)))


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {case: build() for case, build in CASES.items()}


@pytest.fixture(scope="module")
def reference_pictures(files: dict[str, bytes]) -> dict[str, PILImage.Image]:
    return {case: reference_picture(data) for case, data in files.items()}


@pytest.fixture(scope="module")
def models(
    tmp_path_factory: pytest.TempPathFactory, reference_pictures: dict[str, PILImage.Image]
) -> dict[str, Model]:
    from transformers import AutoProcessor, CLIPModel

    paths = {
        "demo": (ROOT / "models" / "demo-clip-shapes", False),
        "b32": (save_b32_shaped(tmp_path_factory.mktemp("b32")), True),
    }
    loaded = {}
    for name, (path, centred) in paths.items():
        model = Model(
            name=name,
            path=path,
            centred=centred,
            encoder=ClipEncoder(str(path), device="cpu", precision="fp32"),
            processor=AutoProcessor.from_pretrained(path),
            reference_model=CLIPModel.from_pretrained(path).eval(),
            references={},
        )
        model.references = {
            case: model.reference_vector(picture) for case, picture in reference_pictures.items()
        }
        loaded[name] = model
    return loaded


@pytest.fixture(scope="module")
def uploaded(files: dict[str, bytes]) -> Callable[[str], PILImage.Image]:
    """Upload validation's picture of a file (also the thumbnail's source), decoded once.

    Per case, not all at once: a file validation refuses fails its own tests only.
    """
    return functools.cache(lambda case: inspect_image(files[case]).image)


@pytest.mark.parametrize("model_name", ["demo", "b32"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_product_decode_embeds_like_the_reference(
    case: str,
    model_name: str,
    files: dict[str, bytes],
    models: dict[str, Model],
    uploaded: Callable[[str], PILImage.Image],
) -> None:
    model = models[model_name]
    name = default_storage.save(f"originals/{case}", ContentFile(files[case]))
    indexed = load_picture(name, short_side=decode_short_side(model.encoder))

    cosines = {
        "indexing": model.cosine(model.encoder.encode_images([indexed])[0], case),
        "upload": model.cosine(model.encoder.encode_images([uploaded(case)])[0], case),
    }

    assert min(cosines.values()) >= BAR, cosines
