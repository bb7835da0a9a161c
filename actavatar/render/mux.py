"""Frames (+ audio) -> H.264/AAC mp4 through the ffmpeg binary bundled with moviepy (imageio-ffmpeg).

Frames are piped to ffmpeg as they are produced (never all held in memory). The file is written next to the
destination under a temporary name and moved into place only when ffmpeg succeeded, so a failure never leaves a
partial mp4 behind.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from ..errors import ActAvatarError, InputError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

X264_PRESET = "veryfast"
X264_CRF = 18


def ffmpeg_exe() -> str:
    """Path of moviepy's bundled ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _stderr_tail(path: Path) -> str:
    try:
        lines = path.read_text("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def write_video(
    frames: Iterable[np.ndarray],
    out_path: str | Path,
    fps: float,
    audio_path: str | Path | None = None,
    num_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    frame_size: tuple[int, int] | None = None,
) -> Path:
    """Encode RGB uint8 frames (all the same even size) as H.264 yuv420p at ``fps``, muxing AAC of ``audio_path``.

    ``num_frames`` (if known) is only used for ``progress(done, total)`` callbacks. ``frame_size`` (width, height),
    if known, starts ffmpeg before the first frame exists (it opens the audio and sets up the encoder meanwhile);
    otherwise the first frame gives the size. Returns the output path.
    Raises ``InputError`` for bad frames or unreadable audio and ``ActAvatarError`` if ffmpeg fails otherwise.
    """
    out_path = Path(out_path)
    _check_paths(fps, audio_path, out_path)
    # A unique temp name that ffmpeg creates itself, so the mp4 gets the usual permissions (mkstemp's are 0600).
    tmp = out_path.parent / f".{out_path.stem}.{uuid.uuid4().hex}.tmp.mp4"
    log = tmp.with_suffix(".log")
    proc: subprocess.Popen | None = None
    try:
        it = iter(frames)
        first, w, h = _frame_size(it, frame_size)
        cmd = _ffmpeg_command(w, h, fps, audio_path, tmp)
        with open(log, "wb") as err_file:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_file)
            _grow_pipe(proc.stdin, h * w * 3)
            _pipe_frames(proc, it, first, (h, w, 3), progress, num_frames)
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            rc = proc.wait()
        if rc != 0:
            detail = _stderr_tail(log) or f"exit code {rc}"
            raise ActAvatarError(f"Video encoding failed ({detail}): check free disk space and the output path.")
        os.replace(tmp, out_path)
        return out_path
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        log.unlink(missing_ok=True)


def _check_paths(fps: float, audio_path: str | Path | None, out_path: Path) -> None:
    """Refuse a bad frame rate, a missing or silent audio file and a missing output folder before ffmpeg starts."""
    if not fps or fps <= 0 or not np.isfinite(fps):
        raise InputError(f"fps must be a positive number, got {fps}: use e.g. --fps 25.")
    if audio_path is not None:
        if not Path(audio_path).is_file():
            raise InputError(f"Audio file {audio_path} does not exist: check the path.")
        if not _has_audio_stream(Path(audio_path)):
            raise InputError(
                f"{Path(audio_path).name} has no readable audio: upload a wav, mp3, m4a, flac or ogg file."
            )
    if not out_path.parent.exists():
        raise InputError(f"Output folder {out_path.parent} does not exist: create it or choose another --out.")


def _frame_size(it: Iterator[np.ndarray], frame_size: tuple[int, int] | None) -> tuple[np.ndarray | None, int, int]:
    """(first frame or None, width, height): from ``frame_size`` if given, else from the first frame (taken from
    ``it`` and checked). Raises ``InputError`` for no frames, a bad first frame or an odd size."""
    first = None
    if frame_size is None:
        first = next(it, None)
        if first is None:
            raise InputError("No frames to encode: the motion sequence is empty.")
        first = np.ascontiguousarray(first)
        if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
            raise InputError(f"Frames must be RGB uint8 (H, W, 3), got {first.dtype} {first.shape}.")
        h, w = first.shape[:2]
    else:
        w, h = (int(v) for v in frame_size)
    if h % 2 or w % 2:
        raise InputError(f"Frame size {w}x{h} must be even for H.264 yuv420p: use an even --size.")
    return first, w, h


def _ffmpeg_command(w: int, h: int, fps: float, audio_path: str | Path | None, tmp: Path) -> list[str]:
    """Raw RGB frames on stdin (and the audio file) -> H.264 yuv420p (+ AAC) mp4 at ``tmp``, faststart."""
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0"]
    if audio_path is not None:
        cmd += ["-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(tmp)]
    return cmd


def _pipe_frames(proc, it, first, shape, progress, num_frames) -> int:
    """Write the frames (``first``, if already taken, then the rest of ``it``) to ffmpeg's stdin, each checked
    against ``shape``; stops early if ffmpeg died (its message is reported by the caller). Returns the count."""
    count = 0
    frame: np.ndarray | None = first if first is not None else next(it, None)
    if frame is None:
        raise InputError("No frames to encode: the motion sequence is empty.")
    while frame is not None:
        frame = np.ascontiguousarray(frame)
        if frame.shape != shape or frame.dtype != np.uint8:
            raise InputError(f"Frame {count} is {frame.dtype} {frame.shape}, expected uint8 {shape}.")
        try:
            proc.stdin.write(frame.data)  # contiguous: written as is, no copy
        except BrokenPipeError:
            break  # ffmpeg died; its message is reported below
        count += 1
        if progress is not None:
            progress(count, num_frames or 0)
        frame = next(it, None)
    return count


def _grow_pipe(pipe, frame_bytes: int) -> None:
    """Best effort, Linux: let the pipe to ffmpeg hold a whole frame. Pipes default to 64 KiB, so a 512x512 frame
    would go in a dozen blocking pieces, each waiting for ffmpeg to read the previous one."""
    f_setpipe_sz = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if f_setpipe_sz is None:
        return
    try:
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        limit = 1 << 20  # the kernel's default limit
    try:
        fcntl.fcntl(pipe.fileno(), f_setpipe_sz, min(max(frame_bytes, 1 << 16), limit))
    except OSError:
        pass


def _has_audio_stream(path: Path) -> bool:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True)
    return "Audio:" in proc.stderr
