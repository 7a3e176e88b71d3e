"""A second CLIP model, for tests of a model switch."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def second_model(tmp_path: Path) -> Path:
    """A different tiny CLIP (another dimension), saved like any downloaded checkpoint."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(1)
    config = CLIPConfig(
        text_config={
            "vocab_size": 49408,
            "hidden_size": 24,
            "intermediate_size": 48,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 24,
            "intermediate_size": 48,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        projection_dim=24,
    )
    target = tmp_path / "clip-second"
    CLIPModel(config).save_pretrained(target)
    tiny = ROOT / "models" / "clip-tiny-random"
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
        "preprocessor_config.json",
    ):
        shutil.copy(tiny / name, target / name)
    return target
