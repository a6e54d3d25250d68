"""Media arguments as a notebook user has them: a path, a URL, bytes, a PIL or IPython image.

BAML's own media objects (``Image``, ``Audio``, ``Pdf``, ``Video``) pass through. Anything else given
where a function's signature has a media type is turned into one, the media type inferred from the
file name or the bytes themselves; when it can't be, the error says which parameter and why.
"""

from __future__ import annotations

import base64
import enum
import io
import mimetypes
import stat
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import baml_py
from pydantic import BaseModel

from baml_magic._errors import BamlMagicError
from baml_magic.wire import Media

MEDIA_TYPES: dict[type, str] = {baml_py.Image: "image", baml_py.Audio: "audio", baml_py.Pdf: "pdf",
                                baml_py.Video: "video"}
_MAGIC = (  # leading bytes -> media type
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"), (b"ID3", "audio/mpeg"), (b"\xff\xfb", "audio/mpeg"),
    (b"OggS", "audio/ogg"), (b"fLaC", "audio/flac"),
)


class MediaError(BamlMagicError, TypeError):
    """A value that can't be made into the media a parameter wants."""


class Limits:
    """The largest media we read or encode (``BamlMagic.max_media_mb``): checked before a byte is read."""

    max_bytes = 50 * 1024 * 1024  # more than any provider takes inline (OpenAI 50 MB a request, Gemini 20 MB)


def _too_big(size: int, what: str) -> MediaError:
    return MediaError(f"{what}: {size / 1e6:,.1f} MB is more than the media limit of {Limits.max_bytes / 1e6:,.0f} MB "
                      "(%config BamlMagic.max_media_mb = N to raise it); nothing was read or sent")


def _read_file(path: Path, what: str) -> bytes:
    """A file's bytes, refused before reading when it is larger than the limit (or is not a plain file)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise MediaError(f"{what}: {path!s:.200} is not a regular file")
        if path.stat().st_size > Limits.max_bytes:
            raise _too_big(path.stat().st_size, what)
        with path.open("rb") as file:  # files like /proc's say size 0: read no more than the limit allows
            data = file.read(Limits.max_bytes + 1)
    except OSError as exc:
        raise MediaError(f"{what}: can't read {path!s:.200} ({exc.strerror or exc})") from None
    if len(data) > Limits.max_bytes:
        raise _too_big(len(data), what)
    return data


def sniff(data: bytes) -> str | None:
    """The media type the bytes say they are, if they say."""
    for prefix, media_type in _MAGIC:
        if data.startswith(prefix):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return None


def _from_bytes(kind: type, data: bytes, media_type: str | None, what: str) -> Any:
    if len(data) > Limits.max_bytes:
        raise _too_big(len(data), what)
    media_type = media_type or sniff(data)
    if media_type is None and kind is not baml_py.Pdf:
        name = MEDIA_TYPES[kind].capitalize()
        raise MediaError(f"{what}: can't tell what media type these {len(data)} bytes are; pass "
                         f"baml_magic.{name}.from_base64(media_type, ...)")
    encoded = base64.b64encode(data).decode()
    if kind is baml_py.Pdf:
        return baml_py.Pdf.from_base64(encoded)
    return kind.from_base64(media_type, encoded)  # type: ignore[attr-defined]


def to_media(kind: type, value: Any, what: str) -> Any:
    """``value`` as BAML's media object ``kind`` (Image, Audio, Pdf or Video)."""
    if isinstance(value, kind):
        return value
    if is_media_map(value):  # a test block's { file "..." } / { url "..." } / { base64 "...", media_type "..." }
        value = value.get("url") or value.get("file") or \
            f"data:{value.get('media_type') or ''};base64,{value.get('base64', '')}"
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return kind.from_url(value)  # type: ignore[attr-defined]
    if isinstance(value, str) and value.startswith("data:") and ";base64," in value:
        media_type, encoded = value[5:].split(";base64,", 1)
        if len(encoded) * 3 // 4 > Limits.max_bytes:
            raise _too_big(len(encoded) * 3 // 4, what)
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise MediaError(f"{what}: the data: URL's base64 is not valid") from None
        return _from_bytes(kind, data, media_type or None, what)
    if isinstance(value, (str, Path)):
        path = Path(value).expanduser()
        try:
            found = path.exists()
        except (OSError, ValueError):  # a name too long for a path, a NUL byte: not a file
            found = False
        if not found:
            raise MediaError(f"{what}: no file at {value!s:.200} (give a path, a URL, bytes or a "
                             f"{MEDIA_TYPES[kind]} object)")
        return _from_bytes(kind, _read_file(path, what), mimetypes.guess_type(path.name)[0], what)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(kind, bytes(value), None, what)
    if type(value).__module__.startswith("PIL.") and hasattr(value, "save"):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return _from_bytes(kind, buffer.getvalue(), "image/png", what)
    if type(value).__name__ in ("Image", "Audio", "Video") and type(value).__module__.startswith("IPython"):
        if getattr(value, "url", None):
            return kind.from_url(value.url)  # type: ignore[attr-defined]
        held = getattr(value, "data", None)
        if isinstance(held, bytes):
            return _from_bytes(kind, held, getattr(value, "mimetype", None), what)
    raise MediaError(f"{what} must be {MEDIA_TYPES[kind]}: a path, a URL, bytes or baml_magic."
                     f"{MEDIA_TYPES[kind].capitalize()}, got {type(value).__name__}")


def _names_media(text: str) -> bool:
    """Whether a string given where text or media may go names media: a URL, a data: URL, an existing file."""
    if text.startswith(("http://", "https://", "data:")):
        return True
    if "\n" in text or len(text) > 1024:
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):
        return False


def is_media_map(value: Any) -> bool:
    """Whether a value is media as BAML's test blocks write it: a map with a file, url or base64."""
    return isinstance(value, dict) and bool(value.keys() & {"file", "url", "base64"}) and \
        value.keys() <= {"file", "url", "base64", "media_type"}


def has_media(annotation: Any, seen: frozenset[int] = frozenset()) -> bool:
    """Whether a type holds media anywhere (directly, in a list, a map, an optional, a class)."""
    if annotation in MEDIA_TYPES:
        return True
    if id(annotation) in seen:
        return False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(has_media(f.annotation, seen | {id(annotation)}) for f in annotation.model_fields.values())
    return any(has_media(a, seen | {id(annotation)}) for a in typing.get_args(annotation))


def convert(annotation: Any, value: Any, what: str) -> Any:
    """``value`` with every media part turned into BAML's media object, following the type."""
    if annotation in MEDIA_TYPES:
        return to_media(annotation, value, what)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if value is None or isinstance(value, enum.Enum):
        return value
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        media = [a for a in args if a in MEDIA_TYPES]
        if str in args and isinstance(value, str) and not _names_media(value):
            return value  # `pdf | string`: a sentence is text, as BAML's generated client passes it
        if media and (is_media_map(value) or not isinstance(value, (dict, list, BaseModel))):
            return to_media(media[0], value, what)
        return value
    if origin is list and isinstance(value, (list, tuple)):
        return [convert(args[0], v, f"{what}[{i}]") for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        return {k: convert(args[1], v, f"{what}[{k!r}]") for k, v in value.items()}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
        fields = annotation.model_fields
        return {k: convert(fields[k].annotation, v, f"{what}.{k}") if k in fields and has_media(fields[k].annotation)
                else v for k, v in value.items()}
    return value


THUMBNAIL_PX = 160  # the longest side of a preview kept in an output
THUMBNAIL_BYTES = 48 * 1024  # an image this small is its own preview; a larger one is scaled (or a chip)


def _walk(value: Any, depth: int = 0) -> Iterator[Any]:
    if isinstance(value, tuple(MEDIA_TYPES)):
        yield value
    elif depth < 4 and isinstance(value, (list, tuple)):
        for item in value[:50]:
            yield from _walk(item, depth + 1)
    elif depth < 4 and isinstance(value, dict):
        for item in list(value.values())[:50]:
            yield from _walk(item, depth + 1)
    elif depth < 4 and isinstance(value, BaseModel):
        yield from _walk(dict(value), depth + 1)


def describe(value: Any) -> Media:
    """A BAML media object as a Media part (its kind, type, bytes as a data URL, or its URL)."""
    kind = MEDIA_TYPES[type(value)]
    if value.is_url():
        return Media(kind, None, value.as_url(), None)
    encoded, media_type = value.as_base64()
    size = len(encoded) * 3 // 4 - encoded[-2:].count("=")
    return Media(kind, media_type or None, f"data:{media_type};base64,{encoded}", size)


def media_in(args: dict[str, Any]) -> list[Media]:
    """The media among a call's arguments (also inside lists, maps and classes), in order."""
    return [describe(m) for value in args.values() for m in _walk(value)]


def preview(media: Media) -> Media:
    """A media part small enough to keep in an output: large images scaled down when Pillow is there.

    What can't be made small keeps its description and loses its bytes (shown as a chip).
    """
    if media.size is None or media.size <= THUMBNAIL_BYTES or not media.source.startswith("data:"):
        return media
    if media.kind == "image":
        try:
            from PIL import Image as PILImage

            with PILImage.open(io.BytesIO(base64.b64decode(media.source.split(",", 1)[1]))) as picture:
                picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                buffer = io.BytesIO()
                picture.convert("RGB").save(buffer, format="JPEG", quality=80)
            data = base64.b64encode(buffer.getvalue()).decode()
            return Media("image", media.media_type, f"data:image/jpeg;base64,{data}", media.size)
        except Exception:  # noqa: BLE001 - no Pillow, or bytes it can't read: a chip says what it was
            pass
    return Media(media.kind, media.media_type, "", media.size)


def summary(value: Any) -> Any:
    """A call's argument as it reads in a history or table: media as ``<image image/png 356 B>``."""
    if isinstance(value, tuple(MEDIA_TYPES)):
        media = describe(value)
        where = media.source if not media.source.startswith("data:") else f"{media.size} B"
        return f"<{media.kind} {media.media_type or ''} {where}>".replace("  ", " ")
    if isinstance(value, (list, tuple)):
        return [summary(v) for v in value]
    if isinstance(value, dict):
        return {k: summary(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return summary(dict(value))
    return value
