"""Build a tiny, randomly initialised CLIP model directory for offline tests.

Why: tests must exercise the same ``from_pretrained`` code path as
``openai/clip-vit-base-patch32`` (``AutoModel``, ``AutoProcessor``,
``AutoTokenizer``, ``AutoImageProcessor``), but weights cannot be downloaded
from the Hugging Face Hub here and the real model is ~600 MB.  This script
writes a real ``transformers.CLIPModel`` in Hugging Face format with tiny
dimensions and seeded random weights, the full 49,408-token OpenAI CLIP BPE
tokenizer (see ``build_clip_bpe.py``) and a CLIP image processor config.
The embeddings are meaningless; only shapes, dtypes and plumbing are real.

Usage (takes a few seconds)::

    pip download --no-deps open_clip_torch -d /tmp/oc
    python scripts/build_tiny_clip.py --bpe /tmp/oc/open_clip_torch-*.whl

or, with an existing ``vocab.json`` + ``merges.txt`` directory::

    python scripts/build_tiny_clip.py --tokenizer-dir DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTokenizer,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_clip_bpe import VOCAB_SIZE, write_tokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "models" / "clip-tiny-random"
SEED = 0
IMAGE_SIZE = 32
PROJECTION_DIM = 32
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
BOS_TOKEN_ID = VOCAB_SIZE - 2
EOS_TOKEN_ID = VOCAB_SIZE - 1

TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "max_position_embeddings": 77,
    "projection_dim": PROJECTION_DIM,
    "bos_token_id": BOS_TOKEN_ID,
    "eos_token_id": EOS_TOKEN_ID,
    "pad_token_id": 1,
}
VISION_CONFIG: dict[str, Any] = {
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "num_channels": 3,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "projection_dim": PROJECTION_DIM,
}


def build_model(seed: int = SEED) -> CLIPModel:
    """Return a seeded, randomly initialised tiny ``CLIPModel``."""
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=TEXT_CONFIG,
        vision_config=VISION_CONFIG,
        projection_dim=PROJECTION_DIM,
    )
    return CLIPModel(config)


def build_image_processor() -> CLIPImageProcessorPil:
    """Return the CLIP image processor config scaled down to 32x32 inputs.

    The PIL backend class needs no torchvision; it saves itself as
    ``"image_processor_type": "CLIPImageProcessor"``, which loads with either
    backend.
    """
    return CLIPImageProcessorPil(
        do_resize=True,
        size={"shortest_edge": IMAGE_SIZE},
        resample=3,  # bicubic, as for openai/clip-vit-base-patch32
        do_center_crop=True,
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        do_convert_rgb=True,
    )


def tidy_tokenizer_files(out: Path) -> None:
    """Drop load-time keys from the tokenizer config; store tokenizer.json compactly."""
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only"):
        config.pop(key, None)
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    fast_path = out / "tokenizer.json"
    fast = json.loads(fast_path.read_text(encoding="utf-8"))
    fast_path.write_text(
        json.dumps(fast, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )


def build(out: Path, tokenizer_dir: Path, seed: int = SEED) -> None:
    """Write the tiny CLIP model, tokenizer and processor into ``out``."""
    if out.exists() and any(out.iterdir()):
        if not (out / "config.json").exists():
            raise SystemExit(f"{out} is not empty and holds no config.json; refusing to clear it")
        shutil.rmtree(out)
    out.mkdir(parents=True)

    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
    if len(tokenizer) != VOCAB_SIZE:
        raise SystemExit(f"tokenizer has {len(tokenizer)} tokens, not {VOCAB_SIZE}")

    model = build_model(seed)
    model.save_pretrained(str(out), safe_serialization=True)
    # Saved separately (not as a CLIPProcessor, which would write a v5-only
    # processor_config.json) to mirror the Hub layout of openai/clip-vit-base-patch32:
    # preprocessor_config.json + tokenizer files.  AutoProcessor still returns a
    # CLIPProcessor because config.json says model_type "clip".
    build_image_processor().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    tidy_tokenizer_files(out)
    # transformers 5 saves only tokenizer.json for tokenizers; keep the slow files too.
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(tokenizer_dir / name, out / name)
    for path in out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and build the model directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--bpe",
        type=Path,
        help="bpe_simple_vocab_16e6.txt.gz, or the open_clip_torch wheel holding it",
    )
    source.add_argument(
        "--tokenizer-dir",
        type=Path,
        help="directory that already holds vocab.json and merges.txt",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        tokenizer_dir = args.tokenizer_dir
        if tokenizer_dir is None:
            tokenizer_dir = Path(scratch)
            write_tokenizer(args.bpe, tokenizer_dir)
        build(args.out, tokenizer_dir, args.seed)

    total = 0
    for path in sorted(args.out.iterdir()):
        size = path.stat().st_size
        total += size
        print(f"{size:>10}  {path.name}")
    print(f"{total:>10}  total")


if __name__ == "__main__":
    main()
