"""Decoding untrusted images, with real Pillow on real (and crafted) files."""

from __future__ import annotations

import io
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, PngImagePlugin, WebPImagePlugin

from tests.helpers.images import declaring, encoded
from tests.helpers.memory import decode_in_fresh_process
from wearon.errors import ImageRejected
from wearon.images import budget, decode_image
from wearon.images.budget import Facts

RED, BLUE, WHITE = (220, 20, 20), (20, 20, 220), (255, 255, 255)
#: The issue's target for one hostile image's peak RSS growth.
PEAK_GROWTH_MB = 100


def photo(width: int, height: int, fmt: str = "JPEG", **options: object) -> bytes:
    return encoded(Image.new("RGB", (width, height), RED), fmt, **options)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring width x height, with (almost) no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def refusal(data: bytes, **options: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, **options)
    return caught.value


def outcome(data: bytes, **options: int) -> str:
    """ "decoded", or the refusal's code."""
    try:
        decode_image(data, **options)
    except ImageRejected as exc:
        return exc.code
    return "decoded"


def pixels_allocated() -> int:
    return int(Image.core.get_stats()["new_count"])


# --- decompression bombs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 MP: Pillow's own guard refuses this one at open
        (8_000, 6_000),  # 48 MP: under Pillow's guard, over ours
        (10_000, 10_000),  # 100 MP: Pillow only warns
    ],
)
def test_oversize_images_are_refused_from_the_header_alone(width: int, height: int) -> None:
    data = png_header_only(width, height)
    allocated, started = pixels_allocated(), time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert refusal(data).code == "image_too_large"
    assert pixels_allocated() == allocated  # not one pixel buffer was created
    assert time.monotonic() - started < 0.5


def test_pillows_bomb_warning_is_a_refusal_when_warnings_are_errors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert refusal(png_header_only(10_000, 10_000)).code == "image_too_large"


def test_the_pixel_cap_can_be_chosen() -> None:
    assert refusal(photo(100, 51), max_pixels=5_000).code == "image_too_large"
    assert decode_image(photo(100, 50), max_pixels=5_000).size == (100, 50)


# --- memory: a cap per format, by what its decode costs -------------------------------------------


SMALL_RGBA_PNG = encoded(Image.new("RGBA", (64, 48), (*RED, 128)), "PNG")
SMALL_LOSSLESS_WEBP = encoded(Image.new("RGBA", (64, 48), (*RED, 128)), "WEBP", lossless=True)


def test_a_png_with_too_many_pixels_for_its_format_is_refused_before_decoding() -> None:
    # Given an RGBA PNG of 20 MP: under the 40 MP cap, but 80 MB decoded before any copy
    data = declaring(SMALL_RGBA_PNG, "PNG", (5_200, 3_900))
    allocated = pixels_allocated()
    rejected = refusal(data, max_side=1024)
    # Then it is refused, with what it would cost, and no pixel buffer was made
    assert rejected.code == "image_too_large"
    assert "PNG image needs" in str(rejected)
    assert pixels_allocated() == allocated


def test_a_webp_is_refused_before_pillows_decoder_allocates_its_canvas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pillow's WebP decoder allocates its canvas when it is made, as the file is opened, so the
    # header is judged first: a 9 MP lossless WebP (12 bytes a pixel in the decoder) is too costly
    made = []
    decoder = WebPImagePlugin._webp.WebPAnimDecoder

    def spy(data: bytes) -> object:
        made.append(len(data))
        return decoder(data)

    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", spy)
    assert decode_image(SMALL_LOSSLESS_WEBP).size == (64, 48)
    assert len(made) == 1  # the spy sees a decoder made
    rejected = refusal(declaring(SMALL_LOSSLESS_WEBP, "WEBP", (3_600, 2_500)), max_side=1024)
    assert rejected.code == "image_too_large"
    assert "WebP image needs" in str(rejected)
    assert len(made) == 1  # none was made for this one


def test_a_progressive_jpeg_is_capped_by_its_coefficient_buffer_a_baseline_one_is_not() -> None:
    # libjpeg keeps a progressive JPEG's every coefficient at full scale (6 bytes a pixel at
    # 4:4:4), whatever scale it decodes at; a baseline JPEG streams through a reduced scale
    size = (4_800, 3_600)  # 17 MP
    progressive = declaring(photo(64, 48, progressive=True, subsampling=0), "JPEG", size)
    baseline = declaring(photo(64, 48, subsampling=0), "JPEG", size)
    assert refusal(progressive, max_side=1024).code == "image_too_large"
    assert outcome(baseline, max_side=1024) != "image_too_large"  # past the budget, into its data


def test_the_budget_counts_what_a_pngs_compressed_text_inflates_to() -> None:
    # Given a PNG that fits the budget, and the same picture carrying 50 zTXt chunks of 1 MB
    # each (Pillow inflates them all into memory when it opens the file)
    img = Image.new("RGBA", (2_400, 1_800), (*RED, 255))
    text = PngImagePlugin.PngInfo()
    for n in range(50):
        text.add_text(f"k{n}", "x" * 1_000_000, zip=True)
    assert decode_image(encoded(img, "PNG"), max_side=1024).size == (1024, 768)
    assert refusal(encoded(img, "PNG", pnginfo=text), max_side=1024).code == "image_too_large"


def largest_4_by_3(facts: Callable[[int, int], Facts]) -> tuple[int, int]:
    """The largest 4:3 size the budget lets through, for facts made from a size."""
    low, high = 1, 1_825  # 7300 x 5475: the 40 MP cap
    while low < high:
        mid = (low + high + 1) // 2
        try:
            budget.plan(facts(4 * mid, 3 * mid), 1024)
            low = mid
        except ImageRejected:
            high = mid - 1
    return 4 * low, 3 * low


@pytest.mark.slow
def test_a_40_megapixel_jpeg_decodes_through_its_reduced_scale_within_the_memory_bound(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(photo(7_300, 5_475))  # just under the pixel cap
    measured = decode_in_fresh_process(path, 1024)
    assert measured["outcome"] == "1024x768"
    assert float(str(measured["growth_mb"])) <= PEAK_GROWTH_MB


@pytest.mark.slow
def test_the_largest_rgba_png_let_through_decodes_within_the_memory_bound(tmp_path: Path) -> None:
    size = largest_4_by_3(lambda w, h: Facts("PNG", "RGBA", (w, h), True, 0))
    path = tmp_path / "largest.png"
    path.write_bytes(encoded(Image.new("RGBA", size, (*RED, 128)), "PNG"))
    measured = decode_in_fresh_process(path, 1024)
    assert measured["outcome"] == "1024x768"
    assert float(str(measured["growth_mb"])) <= PEAK_GROWTH_MB


def test_a_process_runs_at_most_two_decodes_at_once() -> None:
    # Given more callers than decode slots, each holding its slot a while
    running, peak, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    callers = [threading.Thread(target=budget.in_decode_slot, args=(work,)) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    # Then they took turns, two at a time
    assert peak == budget.MAX_CONCURRENT_DECODES == 2


def test_pixels_are_decoded_on_the_decode_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the decode threads' malloc arenas then keep decode memory, however many threads call
    threads = []
    load = ImageFile.ImageFile.load

    def spy(img: ImageFile.ImageFile) -> object:
        threads.append(threading.current_thread().name)
        return load(img)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    decode_image(photo(40, 30, "PNG"), max_side=16)
    assert threads and all(name.startswith("decode") for name in threads)


# --- what is not an image we take ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"<html><body>hi</body></html>" * 10])
def test_non_images_are_refused(data: bytes) -> None:
    assert refusal(data).code == "not_an_image"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (photo(10, 10, "GIF"), "GIF"),
        (photo(10, 10, "BMP"), "BMP"),
        (photo(10, 10, "TIFF"), "TIFF"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "HEIC"),  # an iPhone photo's start
    ],
)
def test_other_image_formats_are_refused_by_name(data: bytes, name: str) -> None:
    rejected = refusal(data)
    assert rejected.code == "unsupported_format"
    assert str(rejected).startswith(f"{name} images are not accepted")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_refused_as_corrupt(fmt: str) -> None:
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")  # noise: no format can shrink it much
    data = encoded(noisy, fmt)
    assert refusal(data[: len(data) // 2]).code == "corrupt_image"


# --- what comes out -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(fmt: str) -> None:
    img = decode_image(photo(30, 20, fmt))
    assert (img.mode, img.size) == ("RGB", (30, 20))
    assert max(abs(a - b) for a, b in zip(img.getpixel((15, 10)), RED, strict=True)) < 10  # type: ignore[arg-type]


def test_a_multi_picture_jpeg_from_a_camera_is_accepted() -> None:
    first, second = Image.new("RGB", (40, 30), RED), Image.new("RGB", (40, 30), BLUE)
    data = encoded(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"  # what Pillow calls it
    assert decode_image(data).size == (40, 30)
    large = encoded(Image.new("RGB", (4000, 3000), RED), "MPO")
    assert decode_image(large, max_side=1024, min_side=992).size == (1000, 750)  # a reduced scale


def test_transparency_becomes_white_not_black() -> None:
    cut_out = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    cut_out.paste((*RED, 255), (5, 5, 15, 15))
    img = decode_image(encoded(cut_out, "PNG"))
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((10, 10)) == RED


def test_palette_transparency_becomes_white_too() -> None:
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0, *RED])
    palette.paste(1, (5, 0, 10, 10))
    img = decode_image(encoded(palette, "PNG", transparency=0))
    assert (img.getpixel((0, 0)), img.getpixel((9, 9))) == (WHITE, RED)


@pytest.mark.parametrize("max_side", [None, 20])
def test_exif_orientation_is_applied(max_side: int | None) -> None:
    # Given a 40x20 picture, red on its left half, stored with "rotate 90° clockwise to display"
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    img = decode_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95), max_side=max_side)
    # Then it comes out upright (20x40, or shrunk to 10x20): the left half is now the top half
    width, height = img.size
    assert height == 2 * width
    assert img.getpixel((width // 2, height // 8))[0] > 180  # type: ignore[index]
    assert img.getpixel((width // 2, height - height // 8))[2] > 180  # type: ignore[index]


@pytest.mark.parametrize(
    ("size", "fmt", "expected"),
    [
        ((3000, 2000), "JPEG", (1024, 683)),  # decoded at 1/2 (1500 px), resized to 1024
        ((2000, 3000), "PNG", (683, 1024)),  # decoded whole, resized
        ((1600, 1200), "JPEG", (1024, 768)),  # 1/2 would be 800: decoded whole
        ((1024, 10), "JPEG", (1024, 10)),
        ((300, 200), "WEBP", (300, 200)),  # never enlarged
    ],
)
def test_an_image_comes_out_at_most_the_side_asked_for(
    size: tuple[int, int], fmt: str, expected: tuple[int, int]
) -> None:
    assert decode_image(photo(*size, fmt), max_side=1024).size == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4032, 3024), (1008, 756)),  # a phone photo at 1/4 scale: 1.6% short of 1024
        ((4000, 3000), (1000, 750)),
        ((2000, 1500), (1000, 750)),
        ((2048, 1536), (1024, 768)),
        ((3900, 2925), (1024, 768)),  # 1/4 would be 975 px, under 992: 1/2, then resized
    ],
)
def test_a_jpeg_scale_down_to_min_side_is_taken_as_it_is(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert decode_image(photo(*size), max_side=1024, min_side=992).size == expected


@pytest.mark.parametrize("size", [(4032, 3024), (2000, 1500)])
def test_without_min_side_the_side_asked_for_is_what_comes_out(size: tuple[int, int]) -> None:
    # The size API's detector reads its photos at exactly its side: a photo shrunk below it would
    # be stretched back, and judged as if it were a small photo
    assert decode_image(photo(*size), max_side=1024).size == (1024, 768)


def fuzzed(seed: bytes, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data)


SEEDS = [
    photo(48, 32, "JPEG"),
    photo(48, 32, "JPEG", progressive=True),
    photo(48, 32, "PNG"),
    SMALL_RGBA_PNG,
    photo(48, 32, "WEBP"),
    SMALL_LOSSLESS_WEBP,
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.integers(1, 2_000),
    max_side=st.sampled_from([None, 16]),
)
def test_damaged_files_are_decoded_or_refused_never_another_error(
    seed: bytes, edits: list[tuple[int, int]], cut: int, max_side: int | None
) -> None:
    data = fuzzed(seed, edits)[: max(cut, 8)]
    try:
        img = decode_image(data, max_side=max_side)
    except ImageRejected:
        return
    assert img.mode == "RGB"


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])  # resampled whole, and by strips
@pytest.mark.parametrize("resample", [Image.Resampling.BOX, Image.Resampling.BICUBIC])
def test_an_image_shrunk_is_resampled_with_the_filter_asked_for(
    mode: str, resample: Image.Resampling
) -> None:
    # Given a textured 1200x1600 image (an opaque RGBA one goes through the strips)
    source = Image.effect_noise((1200, 1600), 80).convert(mode)
    data = encoded(source, "PNG")
    # When it is decoded to 1024 px with a filter
    got = decode_image(data, max_side=1024, resample=resample)
    # Then it is that filter's result (but for the strips' rounding), not the other's
    other = Image.Resampling.BICUBIC if resample == Image.Resampling.BOX else Image.Resampling.BOX
    rgb = source.convert("RGB")
    expected, not_expected = (rgb.resize((768, 1024), f) for f in (resample, other))
    assert got.size == expected.size
    assert _mean_difference(got, expected) < 0.2 * _mean_difference(not_expected, expected)


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)) / len(a.tobytes())
