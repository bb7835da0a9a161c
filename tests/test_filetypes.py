"""Rejections say what a file is ("a PDF document"), read from its first bytes, not a decoder's error name."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from actavatar.filetypes import describe


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _wav() -> bytes:
    out = io.BytesIO()
    sf.write(out, np.zeros(160, np.float32), 16000, format="WAV")
    return out.getvalue()


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", "an empty file"),
        (b"just some words\n", "a text file"),
        (b"%PDF-1.7\n...", "a PDF document"),
        (b"PK\x03\x04rest", "a ZIP archive (or an Office document)"),
        (b"<!DOCTYPE html><html></html>", "a web page (HTML)"),
        (b'<?xml version="1.0"?><svg></svg>', "an SVG drawing (text, not a photo)"),
        (b"\x00\x00\x00\x18ftypmp42rest", "an MP4/MOV video"),
        (b"\x00\x01\x02\x03\xff", "unrecognised binary data"),
    ],
)
def test_describe(tmp_path, data, expected):
    path = tmp_path / "upload.jpg"  # the name says nothing: the bytes do
    path.write_bytes(data)
    assert describe(path) == expected


def test_describe_real_files(tmp_path):
    (tmp_path / "a").write_bytes(_png())
    (tmp_path / "b").write_bytes(_wav())
    assert describe(tmp_path / "a") == "a PNG image" and describe(tmp_path / "b") == "a WAV audio file"
    assert describe(tmp_path / "missing") == "an unreadable file"
