"""Rendered sample sets: the held-out benchmark covers the whole vocabulary."""

from __future__ import annotations

import demo


def test_held_out_scenes_cover_every_combination() -> None:
    samples = demo.held_out_scenes(repeats=1, max_side=48, min_side=40)
    combos = {(s[2]["shape"], s[2]["colour"], s[2]["size"]) for s in samples}
    assert len(samples) == len(combos) == 6 * 8 * 2
