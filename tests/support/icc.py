"""ICC colour profiles built from their bytes, for images that carry one.

littlecms (`PIL.ImageCms`) creates only sRGB, Lab and XYZ profiles, and no
other profile ships with the environment, so these write the ICC v2 format
directly: an RGB display profile (colorants and a gamma curve) and a CMYK
printer profile (a 16-bit lookup table to Lab).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Sequence

import numpy as np

D50 = (0.9642, 1.0, 0.8249)
# Display P3's primaries adapted to D50, as Apple's profile stores them.
P3_PRIMARIES = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
# sRGB's primaries adapted to D50 (red, green, blue).
SRGB_PRIMARIES = (
    (0.4360747, 0.2225045, 0.0139322),
    (0.3850649, 0.7168786, 0.0971045),
    (0.1430804, 0.0606169, 0.7141733),
)

Triple = tuple[float, float, float]


def rgb_profile(name: str, primaries: Sequence[Triple], gamma: float) -> bytes:
    """A matrix/TRC display profile: device red, green, blue are `primaries` (XYZ, D50)."""
    red, green, blue = primaries
    curve = _curve(gamma)
    return _profile(
        b"mntr",
        b"RGB ",
        b"XYZ ",
        [
            (b"desc", _description(name)),
            (b"cprt", _text("No copyright: a test profile.")),
            (b"wtpt", _xyz(D50)),
            (b"rXYZ", _xyz(red)),
            (b"gXYZ", _xyz(green)),
            (b"bXYZ", _xyz(blue)),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


def display_p3_profile() -> bytes:
    """A wide-gamut display profile of the kind phones embed (P3 primaries, gamma 1.8)."""
    return rgb_profile("Test Display P3, gamma 1.8", P3_PRIMARIES, 1.8)


def rotated_profile() -> bytes:
    """A profile whose device red is sRGB green, green is blue, blue is red.

    Ignoring it, or applying it, changes an image beyond doubt: (200, 10, 10)
    in it is about (10, 200, 10) in sRGB.
    """
    red, green, blue = SRGB_PRIMARIES
    return rgb_profile("Test rotated primaries", (green, blue, red), 2.2)


def cmyk_profile(grid: int = 3) -> bytes:
    """A CMYK printer profile: an A2B0 lookup table from ink to Lab, on a `grid`^4 lattice.

    Its inks are multiplicative (cyan takes red away, black darkens all)
    with a warm paper white, unlike Pillow's plain conversion (255 - C - K).
    """

    def ink_to_rgb(c: float, m: float, y: float, k: float) -> Triple:
        paper = (0.98, 0.96, 0.90)
        return (
            paper[0] * (1 - c) * (1 - k),
            paper[1] * (1 - m) * (1 - 0.1 * c) * (1 - k),
            paper[2] * (1 - y) * (1 - k),
        )

    return _profile(
        b"prtr",
        b"CMYK",
        b"Lab ",
        [
            (b"desc", _description("Test CMYK, multiplicative inks")),
            (b"cprt", _text("No copyright: a test profile.")),
            (b"wtpt", _xyz(D50)),
            (b"A2B0", _lut16_to_lab(4, grid, ink_to_rgb)),
        ],
    )


def _lut16_to_lab(inputs: int, grid: int, to_srgb: Callable[..., Triple]) -> bytes:
    """lut16Type: identity curves, a CLUT of v2 16-bit Lab values, identity curves."""
    steps = np.linspace(0.0, 1.0, grid)
    lattice = [
        _lab16(_srgb_to_lab(to_srgb(*point)))
        for point in itertools.product(steps, repeat=inputs)  # first input slowest, as ICC says
    ]
    identity = struct.pack(">HH", 0, 65535)
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    return (
        b"mft2"
        + bytes(4)
        + struct.pack(">BBBB", inputs, 3, grid, 0)
        + matrix
        + struct.pack(">HH", 2, 2)
        + identity * inputs
        + b"".join(struct.pack(">HHH", *lab) for lab in lattice)
        + identity * 3
    )


def _srgb_to_lab(rgb: Triple) -> Triple:
    """sRGB (0..1) to CIE Lab under D50, through sRGB's D50-adapted matrix."""
    encoded = np.asarray(rgb, dtype=np.float64)
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    xyz = np.asarray(SRGB_PRIMARIES).T @ linear / np.asarray(D50)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))


def _lab16(lab: Triple) -> tuple[int, int, int]:
    """ICC v2 16-bit Lab: L 0..100 on 0..0xFF00, a and b offset by 128 on 0..0xFFFF."""
    lightness, a, b = lab

    def clamp(v: float) -> int:
        return max(0, min(65535, round(v)))

    return clamp(lightness * 652.8), clamp((a + 128) * 256), clamp((b + 128) * 256)


def _profile(
    device_class: bytes, space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]
) -> bytes:
    table_end = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        body += bytes(-(table_end + len(body)) % 4)  # each tag starts on a 4-byte boundary
        table += signature + struct.pack(">II", table_end + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", table_end + len(body))
        + b"lcms"
        + struct.pack(">I", 0x02100000)  # version 2.1
        + device_class
        + space
        + pcs
        + bytes(12)  # creation date
        + b"acsp"
        + bytes(24)  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + b"".join(_s15(v) for v in D50)
        + bytes(4 + 16 + 28)  # creator, profile id, reserved
    )
    return header + struct.pack(">I", len(tags)) + table + body


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz: Triple) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def _description(name: str) -> bytes:
    ascii_name = name.encode("ascii") + b"\0"
    # ASCII, then empty Unicode and ScriptCode descriptions.
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_name)) + ascii_name + bytes(8 + 3 + 67)


def _text(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode("ascii") + b"\0"
