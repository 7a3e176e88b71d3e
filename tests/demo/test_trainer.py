"""The demo model's trainer: its data stream and its runs are reproducible."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_demo_clip", ROOT / "scripts" / "train_demo_clip.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_render_workers_yield_the_one_worker_stream(trainer: ModuleType) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "models" / "demo-clip-shapes"))
    stream = trainer.BatchStream(tokenizer, seed=5, batch_size=8, total_steps=100, image_size=32)
    loader = DataLoader(stream, batch_size=None, num_workers=2, prefetch_factor=1)
    for step, batch in zip(range(7), loader, strict=False):
        expected = stream.make_batch(step)
        assert batch.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(batch[key], value), (step, key)


def test_the_reduced_tokenizer_is_the_shipped_one(trainer: ModuleType, tmp_path: Path) -> None:
    # The words the tokenizer keeps whole are a training input: what the trainer
    # builds now must be what the shipped model was trained with.
    trainer.build_reduced_tokenizer(ROOT / "models" / "clip-tiny-random", tmp_path)

    for name in ("vocab.json", "merges.txt"):
        shipped = (ROOT / "models" / "demo-clip-shapes" / name).read_text("utf-8")
        assert (tmp_path / name).read_text("utf-8") == shipped, name


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """The trainer sets the process's torch threads; the rest of the suite keeps its own."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("torch_threads")
def test_a_seeded_run_is_reproduced_exactly(trainer: ModuleType, tmp_path: Path) -> None:
    def weights(out: Path, seed: int) -> dict[str, torch.Tensor]:
        argv = [
            "--out", str(out), "--steps", "3", "--seed", str(seed), "--batch-size", "16",
            "--image-size", "32", "--width", "32", "--heads", "2", "--vision-layers", "1",
            "--text-layers", "1", "--workers", "0", "--eval-repeats", "1",
        ]  # fmt: skip
        assert trainer.main(argv) == 0
        from safetensors.torch import load_file

        return load_file(str(out / "model.safetensors"))

    first = weights(tmp_path / "a", seed=1)
    again = weights(tmp_path / "b", seed=1)
    other = weights(tmp_path / "c", seed=2)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
