"""Portrait loading and face analysis with the real mediapipe face mesh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actavatar.errors import InputError
from actavatar.motion import FACE_DESCRIPTOR_DIM
from actavatar.render import analyze_face, load_portrait

PORTRAITS = sorted((Path(__file__).resolve().parents[1] / "examples" / "portraits").glob("*.jpg"))


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    return load_portrait(next(p for p in PORTRAITS if "hopper" in p.name))


def test_import_does_no_work():
    code = "import sys, actavatar.render; assert 'mediapipe' not in sys.modules and 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_at_least_three_portraits_with_licenses():
    assert len(PORTRAITS) >= 3
    licenses = (PORTRAITS[0].parent / "LICENSES.md").read_text()
    for p in PORTRAITS:
        assert p.name in licenses
        assert p.stat().st_size <= 300_000


@pytest.mark.parametrize("path", PORTRAITS, ids=lambda p: p.stem)
def test_shipped_portraits_are_analysed(path):
    image = load_portrait(path)
    face = analyze_face(image)
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    x0, y0, x1, y1 = face.bbox
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    assert x1 - x0 >= 64
    assert face.num_faces == 1 and face.notes == []
    assert face.descriptor.shape == (FACE_DESCRIPTOR_DIM,)
    assert np.all(np.isfinite(face.descriptor)) and np.abs(face.descriptor).max() < 6


def test_descriptor_is_scale_and_translation_invariant(hopper):
    face = analyze_face(hopper)
    padded = np.pad(hopper, ((60, 0), (0, 90), (0, 0)), mode="edge")
    small = np.asarray(Image.fromarray(padded).resize((padded.shape[1] * 3 // 4, padded.shape[0] * 3 // 4)))
    other = analyze_face(small)
    assert np.abs(other.descriptor - face.descriptor).max() < 0.5


def test_formats_rgba_gray_palette_exif(tmp_path, hopper):
    h, w = hopper.shape[:2]
    rgba = np.dstack([hopper, np.full((h, w), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(hopper).convert("L").save(tmp_path / "g.png")
    Image.fromarray(hopper).convert("P", palette=Image.ADAPTIVE).save(tmp_path / "p.png")
    # Stored rotated 90 degrees with an EXIF orientation tag (6 = rotate 270 to display upright).
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(hopper, 1)).save(tmp_path / "e.jpg", exif=exif, quality=95)
    for name in ("a.png", "g.png", "p.png", "e.jpg"):
        img = load_portrait(tmp_path / name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert img.shape[:2] == (h, w), name
        face = analyze_face(img)
        assert face.landmarks[10, 1] < face.landmarks[152, 1], f"{name}: forehead must be above chin (upright)"
    assert load_portrait(rgba).shape == (h, w, 3)
    assert load_portrait(Image.fromarray(hopper)).shape == (h, w, 3)


def test_huge_photo_is_decoded_small(tmp_path, hopper):
    big = np.asarray(Image.fromarray(hopper).resize((4000, 6000)))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=80)
    img = load_portrait(tmp_path / "big.jpg")
    assert max(img.shape[:2]) == 2048
    assert analyze_face(img).num_faces == 1


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated", "animated"])
def test_bad_files(tmp_path, hopper, kind):
    path = tmp_path / "x.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "truncated":
        Image.fromarray(hopper).save(path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "animated":
        path = tmp_path / "x.gif"
        frames = [Image.fromarray(hopper), Image.fromarray(hopper[::-1].copy())]
        frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(InputError) as err:
        load_portrait(path)
    assert "\n" not in str(err.value)


def test_no_face():
    rng = np.random.default_rng(0)
    for image in (np.full((400, 300, 3), 200, np.uint8), rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)):
        with pytest.raises(InputError, match="No face found in the portrait"):
            analyze_face(image)


def test_small_face_rejected(hopper):
    face = analyze_face(hopper)
    scale = 50 / (face.bbox[2] - face.bbox[0])
    small = np.asarray(Image.fromarray(hopper).resize((int(hopper.shape[1] * scale), int(hopper.shape[0] * scale))))
    canvas = np.full((300, 300, 3), 128, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small[:300, :300]
    with pytest.raises(InputError, match="pixels across|No face"):
        analyze_face(canvas)


def test_cut_off_face_rejected(hopper):
    face = analyze_face(hopper)
    x0, y0, x1, y1 = face.bbox
    cut = np.ascontiguousarray(hopper[:, : (x0 + x1) // 2 + 10])
    with pytest.raises(InputError):
        analyze_face(cut)


def test_several_faces_uses_largest(hopper):
    small = np.asarray(Image.fromarray(hopper).resize((hopper.shape[1] * 2 // 3, hopper.shape[0] * 2 // 3)))
    canvas = np.full((hopper.shape[0], hopper.shape[1] + small.shape[1], 3), 255, np.uint8)
    canvas[:, : hopper.shape[1]] = hopper
    canvas[: small.shape[0], hopper.shape[1] :] = small
    face = analyze_face(canvas)
    assert face.num_faces == 2
    assert "2 faces found" in face.notes[0]
    assert face.bbox[2] <= hopper.shape[1]  # the big (left) one
