"""Our batched preprocessing against the model's own CLIPImageProcessor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage
from transformers import CLIPImageProcessor

from demo import render_numpy, sample_scene
from encoder.clip import ClipEncoder, get_encoder
from encoder.preprocess import ClipPreprocessor, UnsupportedProcessor
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
