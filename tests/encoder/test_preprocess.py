"""Our batched preprocessing against the model's own CLIPImageProcessor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from transformers import CLIPImageProcessor

from demo import render_numpy, sample_scene
from encoder.clip import ClipEncoder, get_encoder
from encoder.preprocess import (
    ClipPreprocessor,
    UnsupportedProcessor,
    mark_reduced,
    source_geometry,
)
from tests.factories import picture

# float32 against transformers' float64 steps: rounding only.
PIXEL_TOLERANCE = 1e-5


def varied_images() -> list[PILImage.Image]:
    """Sizes, aspect ratios, modes and content of the kinds uploads have."""
    rng = np.random.default_rng(7)
    noise = [
        PILImage.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for h, w in [(480, 640), (300, 200), (225, 224), (100, 1000), (150, 150), (31, 47)]
    ]
    return [
        *noise,
        picture(size=(640, 480)),
        picture((0, 0, 200), (123, 457), shape="square"),
        PILImage.fromarray(rng.integers(0, 256, (120, 90), dtype=np.uint8), "L"),
        PILImage.new("RGBA", (90, 70), (10, 200, 30, 128)),
        picture(size=(2000, 1500)).convert("P"),
    ]


@pytest.mark.parametrize(
    "processor",
    [
        CLIPImageProcessor(),  # openai/clip-vit-base-patch32: short side 224, centre crop
        CLIPImageProcessor(size={"height": 64, "width": 64}, do_center_crop=False),  # the demo
        CLIPImageProcessor(size={"shortest_edge": 336}, crop_size=336),  # ViT-L/14-336
    ],
    ids=["b32", "squash-64", "l14-336"],
)
def test_pixel_values_match_the_model_processor(processor: CLIPImageProcessor) -> None:
    images = varied_images()
    ours = ClipPreprocessor.from_processor(processor)

    expected = processor(images=[im.convert("RGB") for im in images], return_tensors="np")
    actual = ours(images)

    assert actual.dtype == np.float32
    assert actual.shape == expected["pixel_values"].shape
    assert np.abs(actual - expected["pixel_values"]).max() <= PIXEL_TOLERANCE


def test_embeddings_match_the_model_processor_path() -> None:
    encoder = get_encoder()
    assert encoder.preprocessor is not None
    rng = __import__("random").Random(5)
    images = [
        render_numpy(sample_scene(rng, None), w, h, rng)
        for w, h in [(64, 64), (200, 120), (90, 300), (640, 480), (33, 41)]
    ] + varied_images()[:4]

    reference = np.asarray(
        encoder.processor(images=[im.convert("RGB") for im in images], return_tensors="np")[
            "pixel_values"
        ],
        dtype=np.float32,
    )
    ours = encoder.encode_pixels(encoder.preprocessor(images))
    theirs = encoder.encode_pixels(reference)

    assert (ours * theirs).sum(axis=1).min() >= 0.999


def striped(size: tuple[int, int]) -> PILImage.Image:
    """Dark bars with sharp edges: where a resize puts an edge shows at once."""
    pixels = np.full((size[1], size[0], 3), 240, dtype=np.uint8)
    for left in range(40, size[0] - 120, 300):
        pixels[200:-200, left : left + 120] = (20, 20, 20)
    return PILImage.fromarray(pixels)


@pytest.mark.parametrize(
    "processor",
    [
        CLIPImageProcessor(),
        CLIPImageProcessor(size={"height": 80, "width": 80}, do_center_crop=False),
    ],
    ids=["b32", "squash-80"],
)
def test_a_reduced_decode_is_resized_as_its_original_would_be(
    processor: CLIPImageProcessor,
) -> None:
    """3736 px reduced by 3 is 1246 px wide, not 1245.33: the extent, not the size, is the image."""
    ours = ClipPreprocessor.from_processor(processor)
    full = striped((3736, 3474))
    reduced = full.reduce(3)
    plain = reduced.copy()
    mark_reduced(reduced, source_size=full.size, extent=(3736 / 3, 3474 / 3))

    expected = ours.resized(full).astype(int)
    difference = np.abs(ours.resized(reduced).astype(int) - expected)

    assert source_geometry(reduced) == ((3736, 3474), (3736 / 3, 1158.0))
    assert source_geometry(plain) == ((1246, 1158), None)
    assert difference.max() <= 3
    # Resized from its own rounded size, the bars' edges move: by a pixel where
    # the short-side resize rounds to 241 px instead of 240 (B/32), by a tenth
    # of one where the size is fixed (80x80).
    assert np.abs(ours.resized(plain).astype(int) - expected).max() > 3


def test_unsupported_processor_options_are_refused_not_guessed() -> None:
    with pytest.raises(UnsupportedProcessor):
        ClipPreprocessor.from_config({"size": {"longest_edge": 1024}})
    with pytest.raises(UnsupportedProcessor):
        ClipPreprocessor.from_config({"do_pad": True})


def test_prepared_batches_encode_like_whole_images() -> None:
    """What decode threads prepare, encoded as a batch, equals encoding the images;
    without our preprocessor the model's own processor does the work."""
    encoder = ClipEncoder(get_encoder().model_name, device="cpu", precision="fp32")
    images = varied_images()[:6]
    direct = encoder.encode_images(images)

    ours = encoder.encode_prepared([encoder.prepare(image) for image in images])
    encoder.preprocessor = None
    fallback = encoder.encode_prepared([encoder.prepare(image) for image in images])

    np.testing.assert_allclose(ours, direct, atol=1e-5)
    assert (fallback * direct).sum(axis=1).min() >= 0.999


def test_a_prepared_image_is_its_row_of_the_normalised_batch() -> None:
    """The decode thread's lookup tables give, bit for bit, what normalising the batch gave."""
    for processor in (CLIPImageProcessor(), CLIPImageProcessor(size={"shortest_edge": 336})):
        ours = ClipPreprocessor.from_processor(processor)
        images = varied_images()

        prepared = np.stack([ours.prepared(image) for image in images])

        assert prepared.dtype == np.float32
        np.testing.assert_array_equal(prepared, ours(images))
