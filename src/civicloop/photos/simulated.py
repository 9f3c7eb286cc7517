"""The simulated cases' photos: a few generated images (Pillow, deterministic), stored once through the
photo store under fixed references, so that a simulated case's photo opens like any other.

The simulation names them (:func:`simulated_ref`); :func:`store_simulated_photos` puts the images into a
store (the demo and ``civicloop serve`` do so at start; a reference already there is left alone).
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

from civicloop.photos.store import PhotoStore

KINDS = ("before", "after", "check")
VARIANTS = 8
_PALETTE = {"before": (150, 110, 70), "after": (90, 140, 90), "check": (80, 110, 150)}


def simulated_ref(kind: str, n: int) -> str:
    """The fixed reference of a simulated photo of *kind* for the *n*-th case (a valid photo reference)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return f"ph_simulated-{kind}-{n % VARIANTS:02d}-civicloop.jpg"


def simulated_image(kind: str, variant: int, size: tuple[int, int] = (480, 360)) -> bytes:
    """A JPEG: a street-coloured ground with a few blocks; the same bytes for the same kind and variant."""
    rng = random.Random(f"{kind}-{variant}")
    base = _PALETTE[kind]
    img = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((0, int(h * 0.62), w, h), fill=(105, 105, 110))  # the road
    for _ in range(6 if kind == "before" else 2):
        x, y = rng.randrange(0, w - 60), rng.randrange(int(h * 0.45), h - 40)
        shade = tuple(max(0, min(255, c + rng.randrange(-60, 60))) for c in base)
        draw.rectangle((x, y, x + rng.randrange(20, 60), y + rng.randrange(12, 40)), fill=shade)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=70)
    return out.getvalue()


def store_simulated_photos(store: PhotoStore) -> int:
    """Put every simulated photo into *store* unless it is there; the number stored now."""
    stored = 0
    for kind in KINDS:
        for v in range(VARIANTS):
            ref = simulated_ref(kind, v)
            if not store.exists(ref):
                store.put(simulated_image(kind, v), "image/jpeg", ref=ref)
                stored += 1
    return stored
