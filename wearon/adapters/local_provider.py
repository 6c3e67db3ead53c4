"""A DEVELOPMENT STAND-IN for the image provider: a deterministic Pillow composite.

Used when no OPENAI_API_KEY is set, so `make run` works without credentials. It lays the
input images side by side on one canvas; it does not try anything on. A prompt containing
MODERATION_TRIGGER is refused like a moderation block, so the demo can show that path.
"""

from __future__ import annotations

from PIL import Image

from wearon.errors import ModerationBlocked
from wearon.images import decode_image, to_jpeg

MODERATION_TRIGGER = "[moderation-test]"
TILE = 512


class LocalCompositeProvider:
    def edit(self, images: list[bytes], prompt: str) -> bytes:
        if MODERATION_TRIGGER in prompt:
            raise ModerationBlocked("local provider: prompt carries the moderation test marker")
        tiles = [decode_image(data, max_side=TILE) for data in images]
        canvas = Image.new("RGB", (TILE * len(tiles), TILE), "white")
        for i, tile in enumerate(tiles):
            canvas.paste(tile, (i * TILE + (TILE - tile.width) // 2, (TILE - tile.height) // 2))
        return to_jpeg(canvas, max_side=TILE * len(tiles))
