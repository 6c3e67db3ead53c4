"""What decoding one image costs in memory, the most it may cost, and how many decodes run at once.

The cost is worked out from the header, before a pixel is decoded, and counts every copy the
decode makes: the decoder's own buffers, the decoded image at the scale it is decoded at, the
strips it is converted through and the image handed back. `make bench-images` measures it: the
largest image of each kind that passes, decoded in a fresh process, and its peak RSS growth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from wearon.errors import ImageRejected
from wearon.images.pixels import STRIP_BYTES_PER_PIXEL, Size, Strips, fit, needs_strips

MB = 1 << 20
#: The most one decode may cost, as counted here. Measured peaks of the largest images that pass
#: come to 52-80 MB (bench/results/images.md): under 100 MB, with room for the allocator.
DECODE_BUDGET = 80 * MB
#: Decodes one process runs at once, each on a thread of its own; the others wait their turn. The
#: worst case is this many decodes at DECODE_BUDGET (<= 100 MB measured) each, on top of what the
#: process holds anyway (container limits from docker-compose.prod.yml):
#: - API, 1 GB: ~400 MB resident with the pose models loaded and warm, + 2 x 100 MB of decodes,
#:   + the 8 estimates' downloads (10 MB each at most) = 680 MB, and what malloc keeps of freed
#:   decodes. Measured: 637-671 MB at the peak of 32 concurrent hostile requests (bench-images).
#: - worker, 3 GB: 2 processes of ~250 MB (bench/results/pipeline.md), + 2 x 2 x 100 MB of
#:   decodes = 900 MB, which leaves 2 GB for the downloads and encoded inputs 256 threads hold.
#: Two per process also keep the 2 cores busy: a decode releases the GIL while it works.
MAX_CONCURRENT_DECODES = 2
#: Bytes a pixel takes in Pillow's memory, by mode; the rest take 4 (three bands are stored in four).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: Pillow's WebP decoder holds the canvas, a copy of it for the next frame's disposal, and the
#: frame as a bytes object, each 4 bytes a pixel, besides the image it decodes them into.
WEBP_DECODER_BYTES_PER_PIXEL = 12
#: What Pillow inflates one compressed PNG text or ICC chunk to, at most (PngImagePlugin.MAX_TEXT_CHUNK).
PNG_INFLATED_CHUNK_BYTES = 1 * MB
#: Pillow keeps at most this much PNG text (PngImagePlugin.MAX_TEXT_MEMORY), and one ICC profile.
PNG_INFLATED_MAX_BYTES = 65 * MB
#: libjpeg's coefficient buffer: 64 coefficients of 2 bytes for each 8x8 block of each component.
_JPEG_BLOCK_BYTES = 128

T = TypeVar("T")
_THREAD_PREFIX = "decode"
#: Threads start on first use, not at import. Only these threads allocate decode memory, so only
#: their malloc arenas keep it once freed: with decodes on the callers' threads, each of glibc's
#: arenas (16 on 2 cores, unless MALLOC_ARENA_MAX) kept a decode's worth, and the API's peak RSS
#: crept up burst after burst (988 MB after four bursts of 32 hostile requests; 671 MB this way).
_decoders = ThreadPoolExecutor(MAX_CONCURRENT_DECODES, thread_name_prefix=_THREAD_PREFIX)


def in_decode_slot(work: Callable[[], T]) -> T:
    """`work()`, run on one of this process's decode threads (waiting for one to be free)."""
    if threading.current_thread().name.startswith(_THREAD_PREFIX):
        return work()  # already on one: waiting for another could wait for ever
    return _decoders.submit(work).result()


@dataclass(frozen=True)
class Facts:
    """What the header tells about one decode."""

    kind: str  # the format, for the refusal's message
    mode: str  # as Pillow decodes it
    size: Size  # as decoded: a JPEG at its reduced scale
    transparent: bool
    decoder_bytes: int  # what the format's decoder holds besides the image it fills


@dataclass(frozen=True)
class Plan:
    target: Size  # the size handed back
    cost: int


def plan(facts: Facts, max_side: int | None) -> Plan:
    """The decode's size and cost; ImageRejected "image_too_large" over DECODE_BUDGET."""
    target = fit(facts.size, max_side)
    cost = (
        facts.decoder_bytes
        + image_bytes(facts.mode, facts.size)
        + working_bytes(facts.mode, facts.transparent, facts.size, target)
    )
    if cost > DECODE_BUDGET:
        raise ImageRejected(
            "image_too_large",
            f"this {facts.kind} image needs {cost // MB} MB to decode; the limit is "
            f"{DECODE_BUDGET // MB} MB (fewer pixels, or a JPEG, will do)",
        )
    return Plan(target, cost)


def image_bytes(mode: str, size: Size) -> int:
    return size[0] * size[1] * _BYTES_PER_PIXEL.get(mode, 4)


def working_bytes(mode: str, transparent: bool, decoded: Size, target: Size) -> int:
    """What converting and shrinking the decoded image holds besides it (see `pixels.to_rgb`)."""
    strips = Strips.of(decoded, target)
    out = image_bytes("RGB", target)
    resampled = decoded != target
    if needs_strips(mode, transparent):
        # The strip being converted, the intermediate (the result, when nothing is resampled),
        # and the result.
        passing = strips.rows * decoded[0] * STRIP_BYTES_PER_PIXEL
        return passing + image_bytes("RGB", strips.across) + (out if resampled else 0)
    # Pillow's resize: its box reduction, its intermediate, the resized image; then grey to RGB.
    reduced = image_bytes(mode, strips.reduced) if strips.factors != (1, 1) else 0
    resize = image_bytes(mode, strips.across) + image_bytes(mode, target) if resampled else 0
    return reduced + resize + (out if mode != "RGB" else 0)


def webp_decoder_bytes(canvas: Size) -> int:
    return canvas[0] * canvas[1] * WEBP_DECODER_BYTES_PER_PIXEL


def png_inflated_bytes(chunks: int) -> int:
    return min(PNG_INFLATED_MAX_BYTES, chunks * PNG_INFLATED_CHUNK_BYTES)


def jpeg_coefficient_bytes(size: Size, sampling: list[Size]) -> int:
    """libjpeg's whole-image coefficient buffer for a JPEG of `size` whose components have these
    (horizontal, vertical) sampling factors; it holds it at full scale whatever scale it outputs."""
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    total = 0
    for h, v in sampling:
        across = _round_up(-(-size[0] * h // (h_max * 8)), h)
        down = _round_up(-(-size[1] * v // (v_max * 8)), v)
        total += across * down * _JPEG_BLOCK_BYTES
    return total


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple
