"""Image bytes: check what a model returned, re-encode it as WebP, and label it.

Every stored image is a WebP that carries its own history: the prompt, the
model, the seed, when it was made and the generation id, in an XMP packet
(readable by most photo tools) and, more briefly, in EXIF. A file copied out of
genvault therefore still says where it came from; :func:`read_metadata` reads
it back.

Decoding untrusted bytes is guarded: a size cap before decoding, a short list
of formats Pillow may try, and a pixel cap checked from the header before the
pixels are decompressed.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from PIL import Image, ImageOps, UnidentifiedImageError

from genvault._exceptions import InvalidInput, ModelFailed

__all__ = [
    "CREATOR",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "ImageMetadata",
    "read_metadata",
    "sniff_image_type",
    "thumbnail_webp",
    "to_webp",
]

CREATOR = "genvault"
"""Written as the XMP CreatorTool and the EXIF Software of every image."""
MAX_IMAGE_BYTES = 50 * 1024 * 1024
"""The largest encoded image genvault accepts from a model."""
MAX_PIXELS = 50_000_000
"""The most pixels genvault decodes (about 7000 x 7000); bigger is refused as a bomb."""
_MAX_SIDE = 16383
"""WebP cannot be wider or taller than this."""
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
"""What image models return; Pillow is not allowed to try its other decoders."""
_QUALITY = 90
_THUMB_QUALITY = 80

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
NS_GENVAULT = "urn:genvault:xmp:1.0/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# EXIF tags (TIFF 6.0 / Exif 2.32).
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_EXIF_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_EXIF_OFFSET_TIME = 0x9010

# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class ImageMetadata:
    """What is written into every stored image, so that the file explains itself."""

    prompt: str
    model: str
    seed: int | None
    created_at: datetime
    """When the image was made; must carry a time zone (it is written in UTC)."""
    generation_id: str
    params: dict[str, Any] = field(default_factory=dict)
    """The settings the image was made with (aspect ratio, seed, model options)."""

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError("ImageMetadata.created_at must be timezone-aware")


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of ``data`` judged from its first bytes, or None if it is no
    image format genvault accepts. Cheap: nothing is decoded."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def to_webp(data: bytes, *, metadata: ImageMetadata, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """Re-encode what a model returned as a WebP that carries ``metadata``.

    Raises ModelFailed when ``data`` is larger than ``max_bytes``, is not an
    image, is damaged, or has more pixels than genvault decodes.
    """
    image = _open(data, max_bytes=max_bytes)
    out = io.BytesIO()
    save: dict[str, Any] = {
        "quality": _QUALITY,
        "method": 4,
        "exif": _exif(metadata),
        "xmp": xmp_packet(metadata),
    }
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        save["icc_profile"] = icc
    image.save(out, "WEBP", **save)
    return out.getvalue()


def thumbnail_webp(data: bytes, size: int = 384) -> bytes:
    """A small WebP of the image, at most ``size`` pixels on its longer side.

    The aspect ratio is kept and no metadata is copied (the full image has it).
    """
    if not 16 <= size <= 4096:
        raise ValueError(f"thumbnail size must be between 16 and 4096, not {size}")
    image = _open(data, max_bytes=MAX_IMAGE_BYTES)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=_THUMB_QUALITY, method=4)
    return out.getvalue()


def read_metadata(data: bytes) -> dict[str, str]:
    """What :func:`to_webp` wrote into an image, as text.

    Keys, each present only when the image carries it: ``prompt``, ``model``,
    ``seed``, ``created_at`` (ISO 8601, UTC), ``generation_id``, ``params``
    (JSON) and ``creator``. The XMP packet is read first; EXIF fills in what
    it lacks, so files written by other tools give what they have. Raises
    InvalidInput when ``data`` is not an image.
    """
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
            xmp = image.info.get("xmp")
            exif = image.getexif()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput("these bytes are not an image genvault can read") from exc
    out: dict[str, str] = {}
    if isinstance(xmp, bytes | str) and xmp:
        out.update(_parse_xmp(xmp.encode() if isinstance(xmp, str) else xmp))
    for key, value in _parse_exif(exif).items():
        out.setdefault(key, value)
    return out


def xmp_packet(metadata: ImageMetadata) -> bytes:
    """The XMP packet :func:`to_webp` embeds, as UTF-8 bytes."""

    def text(value: str) -> str:
        # Carriage returns survive only as references: parsers turn a literal
        # CR into LF.
        return escape(_NOT_XML.sub("\ufffd", value)).replace("\r", "&#13;")

    seed = "" if metadata.seed is None else f"\n   <genvault:seed>{metadata.seed}</genvault:seed>"
    params = json.dumps(metadata.params, sort_keys=True, ensure_ascii=False, default=str)
    packet = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="{NS_X}">
 <rdf:RDF xmlns:rdf="{NS_RDF}">
  <rdf:Description rdf:about=""
    xmlns:dc="{NS_DC}"
    xmlns:xmp="{NS_XMP}"
    xmlns:genvault="{NS_GENVAULT}">
   <dc:description>
    <rdf:Alt><rdf:li xml:lang="x-default">{text(metadata.prompt)}</rdf:li></rdf:Alt>
   </dc:description>
   <xmp:CreateDate>{_iso(metadata.created_at)}</xmp:CreateDate>
   <xmp:CreatorTool>{CREATOR}</xmp:CreatorTool>
   <genvault:model>{text(metadata.model)}</genvault:model>{seed}
   <genvault:generationId>{text(metadata.generation_id)}</genvault:generationId>
   <genvault:params>{text(params)}</genvault:params>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return packet.encode("utf-8")


def _open(data: bytes, *, max_bytes: int) -> Image.Image:
    """Decode ``data`` within the limits, upright and in a mode WebP can store."""
    if len(data) > max_bytes:
        raise ModelFailed(
            f"the model returned {_size(len(data))}, "
            f"more than the {_size(max_bytes)} genvault accepts"
        )
    if sniff_image_type(data) is None:
        raise ModelFailed("the model returned something that is not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS or max(width, height) > _MAX_SIDE:
                raise ModelFailed(
                    f"the model returned an image of {width} x {height} pixels, "
                    f"more than genvault accepts ({MAX_PIXELS // 1_000_000} megapixels, "
                    f"{_MAX_SIDE} pixels a side)"
                )
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ModelFailed("the model returned an image with too many pixels") from exc
    except UnidentifiedImageError as exc:
        raise ModelFailed("the model returned something that is not an image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ModelFailed("the model returned a damaged image") from exc
    # A colour profile describes the source's colour space: keep it only when
    # that is still RGB (a CMYK or grey profile would be wrong on RGB pixels).
    icc = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA", "P", "PA") else None
    upright = ImageOps.exif_transpose(image)
    if upright.mode not in ("RGB", "RGBA"):
        transparent = upright.mode in ("LA", "PA", "La", "RGBa") or "transparency" in upright.info
        upright = upright.convert("RGBA" if transparent else "RGB")
    upright.info.pop("icc_profile", None)
    if isinstance(icc, bytes) and icc:
        upright.info["icc_profile"] = icc
    return upright


def _exif(metadata: ImageMetadata) -> Image.Exif:
    exif = Image.Exif()
    # EXIF strings are nominally ASCII; UTF-8 is what readers expect today, and
    # the XMP packet holds the exact prompt either way.
    exif[_EXIF_IMAGE_DESCRIPTION] = _NOT_XML.sub("\ufffd", metadata.prompt).encode("utf-8")
    exif[_EXIF_SOFTWARE] = CREATOR
    exif[_EXIF_DATETIME] = metadata.created_at.astimezone(UTC).strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(_EXIF_IFD)[_EXIF_OFFSET_TIME] = "+00:00"
    return exif


def _parse_xmp(packet: bytes) -> dict[str, str]:
    # A packet with a DTD could declare entities (billion laughs); ours never has one.
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return {}
    try:
        root = ElementTree.fromstring(packet)  # noqa: S314 (no DTD, checked above)
    except ElementTree.ParseError:
        return {}
    out: dict[str, str] = {}
    for desc in root.iter(f"{{{NS_RDF}}}Description"):
        prompt = _alt_text(desc.find(f"{{{NS_DC}}}description"))
        if prompt is not None:
            out["prompt"] = prompt
        fields = {
            "created_at": f"{{{NS_XMP}}}CreateDate",
            "creator": f"{{{NS_XMP}}}CreatorTool",
            "model": f"{{{NS_GENVAULT}}}model",
            "seed": f"{{{NS_GENVAULT}}}seed",
            "generation_id": f"{{{NS_GENVAULT}}}generationId",
            "params": f"{{{NS_GENVAULT}}}params",
        }
        for key, tag in fields.items():
            element = desc.find(tag)
            if element is not None:
                out[key] = element.text or ""
            elif tag in desc.attrib:  # the short form: properties as attributes
                out[key] = desc.attrib[tag]
    return out


def _alt_text(element: ElementTree.Element | None) -> str | None:
    """The x-default (else the first) entry of an rdf:Alt, or plain element text."""
    if element is None:
        return None
    items = element.findall(f"{{{NS_RDF}}}Alt/{{{NS_RDF}}}li")
    if not items:
        return element.text
    for item in items:
        if item.get(_XML_LANG) == "x-default":
            return item.text or ""
    return items[0].text or ""


def _parse_exif(exif: Image.Exif) -> dict[str, str]:
    out: dict[str, str] = {}
    description = exif.get(_EXIF_IMAGE_DESCRIPTION)
    if isinstance(description, bytes | str) and description:
        out["prompt"] = _exif_text(description)
    software = exif.get(_EXIF_SOFTWARE)
    if isinstance(software, bytes | str) and software:
        out["creator"] = _exif_text(software)
    stamp = exif.get(_EXIF_DATETIME)
    if isinstance(stamp, str):
        offset = exif.get_ifd(_EXIF_IFD).get(_EXIF_OFFSET_TIME)
        try:
            when = datetime.strptime(stamp.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            pass
        else:
            if offset == "+00:00":
                out["created_at"] = _iso(when.replace(tzinfo=UTC))
            else:  # local time of unknown zone: say so by leaving the zone off
                out["created_at"] = when.isoformat()
    return out


def _exif_text(value: bytes | str) -> str:
    """Pillow hands EXIF strings back decoded as Latin-1; undo that for UTF-8."""
    raw = value if isinstance(value, bytes) else value.encode("latin-1", "replace")
    raw = raw.rstrip(b"\x00")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"
