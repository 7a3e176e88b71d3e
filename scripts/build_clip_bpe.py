"""Build the OpenAI CLIP BPE tokenizer files (``vocab.json``, ``merges.txt``) offline.

Why: tests and fixtures need the real 49,408-token CLIP tokenizer, but model
weights and tokenizer files cannot be fetched from the Hugging Face Hub here.
OpenAI's original BPE table, ``bpe_simple_vocab_16e6.txt.gz`` (MIT licence),
ships inside the ``open_clip_torch`` wheel, which is available from PyPI.
Fetch it without installing (installing pulls a CUDA torch)::

    pip download --no-deps open_clip_torch -d /tmp/oc
    python scripts/build_clip_bpe.py --bpe /tmp/oc/open_clip_torch-*.whl --out DIR

The table is derived exactly as CLIP's ``simple_tokenizer.py`` does it:
``merges = lines[1 : 49152 - 256 - 2 + 1]``; the vocabulary is the 256
byte-unicode symbols, the same symbols with ``</w>``, one entry per merge
(the pair joined), then ``<|startoftext|>`` and ``<|endoftext|>``.  The output
is in Hugging Face format, so ``CLIPTokenizer.from_pretrained(DIR)`` and
``AutoTokenizer.from_pretrained(DIR)`` load it.  (Always load from a
directory: transformers 5 ignores a ``vocab_file=`` keyword.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
from pathlib import Path

BPE_MEMBER_SUFFIX = "bpe_simple_vocab_16e6.txt.gz"
N_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 49408
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MODEL_MAX_LENGTH = 77


def bytes_to_unicode() -> dict[int, str]:
    """Return CLIP's reversible byte -> printable unicode character mapping."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def read_bpe_text(path: Path) -> str:
    """Read the BPE table from a ``.txt.gz`` file or from an open_clip wheel."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            members = [n for n in wheel.namelist() if n.endswith(BPE_MEMBER_SUFFIX)]
            if not members:
                raise SystemExit(f"{path}: no member ending in {BPE_MEMBER_SUFFIX}")
            raw = gzip.decompress(wheel.read(members[0]))
    else:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    return raw.decode("utf-8")


def build_tables(bpe_text: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Return ``(vocab, merges)`` built exactly as CLIP's simple tokenizer does."""
    lines = bpe_text.split("\n")
    merges: list[tuple[str, str]] = []
    for line in lines[1 : N_MERGES + 1]:
        left, right = line.split()
        merges.append((left, right))
    if len(merges) != N_MERGES:
        raise SystemExit(f"expected {N_MERGES} merges, found {len(merges)}")

    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(pair) for pair in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE or len(tokens) != VOCAB_SIZE:
        raise SystemExit(f"expected {VOCAB_SIZE} unique tokens, got {len(vocab)}")
    return vocab, merges


def tokenizer_config() -> dict[str, object]:
    """Minimal ``tokenizer_config.json`` so ``AutoTokenizer`` picks CLIPTokenizer."""
    return {
        "tokenizer_class": "CLIPTokenizer",
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
        "model_max_length": MODEL_MAX_LENGTH,
        "do_lower_case": True,
        "errors": "replace",
    }


def write_tokenizer(bpe: Path, out: Path, *, with_config: bool = True) -> list[Path]:
    """Write ``vocab.json`` and ``merges.txt`` (and a tokenizer config) into ``out``."""
    vocab, merges = build_tables(read_bpe_text(bpe))
    out.mkdir(parents=True, exist_ok=True)
    vocab_path = out / "vocab.json"
    merges_path = out / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    merges_path.write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    written = [vocab_path, merges_path]
    if with_config:
        config_path = out / "tokenizer_config.json"
        config_path.write_text(json.dumps(tokenizer_config(), indent=2) + "\n", encoding="utf-8")
        written.append(config_path)
    for path in written:
        path.chmod(0o644)
    return written


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and write the tokenizer files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bpe",
        type=Path,
        required=True,
        help="bpe_simple_vocab_16e6.txt.gz, or the open_clip_torch wheel holding it",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--no-config",
        action="store_true",
        help="write only vocab.json and merges.txt (no tokenizer_config.json)",
    )
    args = parser.parse_args(argv)
    for path in write_tokenizer(args.bpe, args.out, with_config=not args.no_config):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
