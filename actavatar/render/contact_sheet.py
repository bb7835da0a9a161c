"""Contact sheet of the renderer's poses for each portrait, to judge the look by eye.

python -m actavatar.render.contact_sheet [--out runs/contact_sheets] [--size 256] [portrait ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX
from .face import analyze_face, load_portrait
from .renderer import PortraitRenderer

PORTRAITS_DIR = Path(__file__).resolve().parents[2] / "examples" / "portraits"

POSES: list[tuple[str, dict[str, float]]] = [
    ("neutral", {}),
    ("jaw open", {"jaw_open": 0.7}),
    ("smile", {"smile": 1.0}),
    ("frown", {"smile": -1.0}),
    ("pucker", {"lip_pucker": 1.0}),
    ("blink left", {"blink_left": 1.0}),
    ("eyes closed", {"blink_left": 1.0, "blink_right": 1.0}),
    ("half blink", {"blink_left": 0.5, "blink_right": 0.5}),
    ("nod down", {"head_pitch": 15.0}),
    ("nod up", {"head_pitch": -15.0}),
    ("turn left", {"head_yaw": -20.0}),
    ("turn right", {"head_yaw": 20.0}),
    ("tilt", {"head_roll": 12.0}),
    ("brows up", {"brow_raise": 1.0}),
    ("brows down", {"brow_raise": -1.0}),
    ("gaze left", {"gaze_x": -1.0}),
    ("gaze right", {"gaze_x": 1.0}),
    ("talk+turn", {"jaw_open": 0.4, "head_yaw": 15.0, "head_pitch": 5.0, "smile": 0.4}),
]


def pose_vector(params: dict[str, float]) -> np.ndarray:
    m = np.zeros(MOTION_DIM, np.float32)
    for name, value in params.items():
        m[MOTION_INDEX[name]] = value
    return m


def contact_sheet(portrait: str | Path, size: int = 256, cols: int = 6) -> np.ndarray:
    """RGB uint8 grid of labelled frames, one per entry of ``POSES``."""
    image = load_portrait(portrait)
    renderer = PortraitRenderer(image, analyze_face(image), size=size)
    tiles = []
    for label, params in POSES:
        tile = renderer.render(pose_vector(params))
        tile = cv2.copyMakeBorder(tile, 0, 18, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(tile, label, (4, tile.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i : i + cols], axis=1) for i in range(0, len(tiles), cols)]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("portraits", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/contact_sheets"))
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    portraits = args.portraits or sorted(p for p in PORTRAITS_DIR.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in portraits:
        out = args.out / f"{path.stem}_contact_sheet.png"
        cv2.imwrite(str(out), cv2.cvtColor(contact_sheet(path, args.size), cv2.COLOR_RGB2BGR))
        print(out)


if __name__ == "__main__":
    main()
