"""What a file looks like, from its first bytes, so a rejection can say "it is a PDF document" instead of jargon."""

from __future__ import annotations

from pathlib import Path

# (magic bytes at offset 0, what the file is); checked in order.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"fLaC", "a FLAC audio file"),
    (b"OggS", "an Ogg audio/video file"),
    (b"ID3", "an MP3 audio file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
)


def describe(path: str | Path) -> str:
    """A few words on what ``path`` holds ("a PDF document", "a text file", "an MP4 video", "unrecognised data")."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return "an unreadable file"
    if not head:
        return "an empty file"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "a WAV audio file"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
            return "a HEIC/AVIF image"
        return "an M4A audio file" if brand.startswith(b"M4A") else "an MP4/MOV video"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            return "unrecognised binary data"
        stripped = text.lstrip().lower()
        if stripped.startswith(("<svg", "<?xml")) and "<svg" in stripped:
            return "an SVG drawing (text, not a photo)"
        if stripped.startswith(("<!doctype html", "<html")):
            return "a web page (HTML)"
        return "a text file"
    return "unrecognised binary data"
