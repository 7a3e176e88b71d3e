"""Small CLIP models saved like downloaded checkpoints: one for a model switch, B/32 shapes."""

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


def save_b32_shaped(folder: Path) -> Path:
    """ViT-B/32's input geometry (224 px, 32 px patches, width 768) with random weights.

    Two layers instead of twelve keep it fast; what decoding changes reaches
    the vector through the patch embedding all the same.
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "vocab_size": 49408,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        vision_config={
            "image_size": 224,
            "patch_size": 32,
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 2,
            "num_attention_heads": 12,
        },
        projection_dim=512,
    )
    CLIPModel(config).save_pretrained(folder)
    tiny = ROOT / "models" / "clip-tiny-random"
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        shutil.copy(tiny / name, folder / name)
    CLIPImageProcessor().save_pretrained(folder)  # openai/clip-vit-base-patch32's
    return folder
