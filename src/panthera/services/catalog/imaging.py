"""Product images with Pillow: what is accepted, what is served, the derived sizes.

Pure and blocking: the use cases run these in a thread. An upload is judged by
decoding it, never by its name or declared type, and what is stored is a fresh
encoding that keeps the pixels (turned upright by their EXIF orientation), the
colour profile and the animation, and nothing else: no EXIF (GPS included), XMP
or comments.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}
"""Pillow's format name -> (content type, file extension) of every accepted type."""
CONTENT_TYPES = {extension: content_type for content_type, extension in FORMATS.values()}
SIZES: dict[str, int] = {"thumbnail": 256, "medium": 1024}
"""Derived sizes: name -> the longest side, in pixels (never enlarged)."""
_KEPT_INFO = ("transparency", "duration", "loop", "background", "icc_profile", "disposal")
"""What of an image's `info` survives the cleaning: how to draw it, nothing about it."""


class ImageRejected(ValueError):
    """The upload is not an image this platform accepts; the message says why."""


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][0]

    @property
    def extension(self) -> str:
        return FORMATS[self.format][1]


@dataclass(frozen=True)
class Derived:
    size: str
    """A key of `SIZES`."""
    extension: str
    data: bytes
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.extension]


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns first; here any size it doubts is refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected("The file is not an image (JPEG, PNG, WebP or GIF)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRejected(f"The image has too many pixels (at most {max_pixels:,})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The image cannot be read: {exc}") from None
    if image.format not in FORMATS:
        raise ImageRejected(f"{image.format} images are not accepted: use JPEG, PNG, WebP or GIF")
    frames = int(getattr(image, "n_frames", 1))
    if image.width * image.height * frames > max_pixels:
        raise ImageRejected(
            f"The image has too many pixels ({image.width}x{image.height}"
            f"{f' x {frames} frames' if frames > 1 else ''}; at most {max_pixels:,} in all)"
        )
    return image


def _decode_all(image: Image.Image) -> list[Image.Image]:
    """Every frame, decoded: a truncated or corrupt file fails here, not later."""
    frames = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            for index in range(int(getattr(image, "n_frames", 1))):
                image.seek(index)
                frames.append(image.copy())
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"The image is damaged or incomplete: {exc}") from None
    return frames


def clean(data: bytes, *, max_pixels: int) -> CleanImage:
    """Validate an upload by decoding it; return it re-encoded without its metadata."""
    image = _open(data, max_pixels)
    kind = str(image.format)
    info: dict[str | tuple[int, int], Any] = {
        key: image.info[key] for key in _KEPT_INFO if key in image.info
    }
    frames = _decode_all(image)
    if len(frames) == 1:
        # The orientation tag goes with the EXIF: apply it to the pixels first.
        frames = [ImageOps.exif_transpose(frames[0])]
    out = io.BytesIO()
    first = frames[0]
    first.info = info
    options: dict[str, object] = {"format": kind}
    if "icc_profile" in info:
        options["icc_profile"] = info["icc_profile"]
    if kind == "JPEG":
        options.update(quality=90, optimize=True)
        if first.mode not in ("RGB", "L", "CMYK"):
            first = first.convert("RGB")
    elif kind == "WEBP":
        options.update(quality=90)
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:])
        for key in ("duration", "loop", "disposal", "transparency", "background"):
            if key in info:
                options[key] = info[key]
    first.save(out, **options)  # type: ignore[arg-type]
    return CleanImage(out.getvalue(), kind, first.width, first.height)


def derive(clean_data: bytes, extension: str) -> list[Derived]:
    """The thumbnail and medium sizes, as WebP and in the original's own format."""
    with Image.open(io.BytesIO(clean_data)) as source:
        source.seek(0)
        base = source.convert("RGBA") if source.mode in ("P", "LA", "PA") else source.copy()
    extensions = ["webp"] if extension == "webp" else ["webp", extension]
    derived = []
    for size, longest in SIZES.items():
        picture = base.copy()
        picture.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        for ext in extensions:
            derived.append(Derived(size, ext, _encode(picture, ext), picture.width, picture.height))
    return derived


def _encode(picture: Image.Image, extension: str) -> bytes:
    out = io.BytesIO()
    if extension == "jpg":
        if picture.mode in ("RGBA", "LA", "P"):
            flat = Image.new("RGB", picture.size, "white")
            flat.paste(picture, mask=picture.convert("RGBA").getchannel("A"))
            picture = flat
        elif picture.mode != "RGB":
            picture = picture.convert("RGB")
        picture.save(out, format="JPEG", quality=85, optimize=True)
    elif extension == "png":
        picture.save(out, format="PNG", optimize=True)
    elif extension == "gif":
        picture.save(out, format="GIF")
    else:
        picture.save(out, format="WEBP", quality=80)
    return out.getvalue()
