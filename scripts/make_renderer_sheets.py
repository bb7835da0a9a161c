"""Before / after contact sheets of the renderer on varied portraits -> docs/renderer/<name>.jpg.

    git archive <before-commit> | tar -x -C /tmp/before       # the renderer to compare against
    OMP_NUM_THREADS=1 python scripts/make_renderer_sheets.py --before /tmp/before

Each sheet has two rows, the renderer at ``--before`` (top) and this checkout's (bottom), over the same poses,
cropped to the face. The portraits: the shipped ones, a black-and-white conversion of Grace Hopper, and three
public-domain images in docs/renderer/portraits (see LICENSES.md there). Without ``--before`` only the current
renderer's row is drawn.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "examples" / "portraits"
EXTRA = ROOT / "docs" / "renderer" / "portraits"
# (sheet name, portrait file, gray: convert to black and white first)
PORTRAITS = [
    ("black_and_white", SHIPPED / "grace_hopper.jpg", True),
    ("painting", EXTRA / "mona_lisa.jpg", False),
    ("glasses", SHIPPED / "grace_hopper.jpg", False),
    ("moustache", EXTRA / "einstein.jpg", False),
    ("dark_skin", SHIPPED / "obama.jpg", False),
    ("three_quarter_earring", EXTRA / "pearl_earring.jpg", False),
    ("open_smile", SHIPPED / "astronaut.jpg", False),
]
POSES = [
    ("neutral", {}),
    ("speech jaw 0.3", {"jaw_open": 0.3}),
    ("stressed jaw 0.8", {"jaw_open": 0.8}),
    ("smile", {"smile": 1.0}),
    ("brows up", {"brow_raise": 1.0}),
    ("talk + turn", {"jaw_open": 0.45, "head_yaw": 15.0, "head_pitch": 5.0, "smile": 0.4}),
]
TILE = 168


def render_frames(out: Path) -> None:
    """Render every pose of every portrait with the ``actavatar`` on the path; save crops to ``out`` (npz)."""
    import actavatar
    from actavatar.motion import MOTION_DIM, MOTION_INDEX
    from actavatar.render import PortraitRenderer, analyze_face, load_portrait

    print("renderer from", Path(actavatar.__file__).parent, file=sys.stderr)
    tiles = {}
    for name, path, gray in PORTRAITS:
        image = load_portrait(path)
        if gray:
            image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
        r = PortraitRenderer(image, analyze_face(image), size=512)
        x0, y0, x1, y1 = r.face.bbox
        cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, 0.62 * max(x1 - x0, y1 - y0)
        h, w = r.image.shape[:2]
        box = (int(max(cy - s, 0)), int(min(cy + s, h)), int(max(cx - s, 0)), int(min(cx + s, w)))
        row = []
        for _, params in POSES:
            m = np.zeros(MOTION_DIM, np.float32)
            for k, v in params.items():
                m[MOTION_INDEX[k]] = v
            f = r.render(m)[box[0] : box[1], box[2] : box[3]]
            row.append(cv2.resize(f, (TILE, TILE), interpolation=cv2.INTER_AREA))
        tiles[name] = np.stack(row)
    np.savez_compressed(out, **tiles)


def label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = cv2.copyMakeBorder(tile, 0, 18, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    cv2.putText(tile, text, (4, tile.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout (git archive) of the renderer to compare against")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "renderer")
    parser.add_argument("--frames-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.frames_only:
        render_frames(args.frames_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = {}
        for tag, src in (("before", args.before), ("after", ROOT)):
            if src is None:
                continue
            npz = Path(tmp) / f"{tag}.npz"
            env = {**os.environ, "PYTHONPATH": str(src.resolve()), "OMP_NUM_THREADS": "1"}
            subprocess.run([sys.executable, __file__, "--frames-only", str(npz)], env=env, check=True, cwd=src)
            rows[tag] = dict(np.load(npz))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, _, _ in PORTRAITS:
        lines = []
        for tag, tiles in rows.items():
            lines.append(
                np.concatenate([label(t, f"{tag}: {p}") for t, (p, _) in zip(tiles[name], POSES, strict=True)], 1)
            )
        sheet = np.concatenate(lines, 0)
        path = args.out / f"{name}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        print(path, f"{path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
