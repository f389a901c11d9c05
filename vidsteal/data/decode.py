"""Read and write media files with PyAV: videos to uint8 ``(T, C, H, W)`` clips, images to ``T = 1`` clips.

Every failure to read a file (missing, corrupt, truncated, no video stream, no frames) is raised as one
:class:`VideoDecodeError` naming the file, so datasets can skip bad files without catching library internals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import get_worker_info

from vidsteal.data.clips import ClipError

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS

# PyAV raises its own FFmpegError tree; the OS and EOF errors cover files that vanish or end early.
_READ_ERRORS = (av.FFmpegError, OSError, EOFError)


class VideoDecodeError(RuntimeError):
    """A media file that cannot be read; the message names the file and the cause."""

    def __init__(self, path: str | Path, cause: str) -> None:
        super().__init__(f"cannot decode {path}: {cause}")
        self.path = str(path)
        self.cause = cause


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about a file's first video stream (``frames`` is 0 when unknown)."""

    path: str
    width: int
    height: int
    fps: float
    frames: int
    duration: float | None


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def probe(path: str | Path) -> VideoInfo:
    """Open ``path`` and decode its first frame; raises :class:`VideoDecodeError` if that fails.

    Cheaper than a full decode, and catches random bytes, missing headers (truncated mp4) and empty streams.
    """
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            frame = next(container.decode(stream), None)
            if frame is None:
                raise VideoDecodeError(path, "the video stream holds no frames")
            duration = float(stream.duration * stream.time_base) if stream.duration else None
            fps = float(stream.average_rate) if stream.average_rate else 0.0
            return VideoInfo(str(path), frame.width, frame.height, fps, stream.frames, duration)
    except _READ_ERRORS as err:
        raise VideoDecodeError(path, _describe(err)) from err


def decode_video(
    path: str | Path,
    start: float | None = None,
    end: float | None = None,
    select: Callable[[int], Sequence[int] | torch.Tensor] | None = None,
) -> torch.Tensor:
    """Decode a video (or only its time window ``[start, end)`` in seconds) to uint8 ``(T, C, H, W)`` RGB.

    Args:
        path: the video file.
        start: window start in seconds from the start of the stream; seeks to the keyframe before it.
        end: window end in seconds (exclusive); decoding stops there.
        select: given the number of decoded frames, returns the frame indices to keep (repeats allowed).
            Only those frames are converted to RGB, which is most of the cost for short clips of long videos.

    Raises:
        VideoDecodeError: the file is unreadable, has no video stream, or no frame falls in the window.
    """
    if start is not None and end is not None and end <= start:
        raise ValueError(f"empty time window [{start}, {end}) for {path}")
    try:
        with av.open(str(path)) as container:
            frames = _decode_frames(container, path, start, end)
            if not frames:
                window = "" if start is None and end is None else f" in the window [{start}, {end})"
                raise VideoDecodeError(path, f"no frames{window}")
            indices = list(range(len(frames))) if select is None else [int(i) for i in select(len(frames))]
            if any(i < 0 or i >= len(frames) for i in indices):
                raise IndexError(f"select returned indices outside [0, {len(frames)}) for {path}")
            return _to_tensor([frames[i] for i in indices])
    except _READ_ERRORS as err:
        raise VideoDecodeError(path, _describe(err)) from err


def read_image(path: str | Path) -> torch.Tensor:
    """Read a png/jpg/bmp/webp image as a uint8 RGB clip of shape ``(1, 3, H, W)``.

    PyAV (FFmpeg's image2 demuxer) rather than torchvision.io, whose image decoders are deprecated since 0.29.
    """
    return decode_video(path, select=lambda n: [0])


def decode_file(
    path: str | Path,
    start: float | None = None,
    end: float | None = None,
    select: Callable[[int], Sequence[int] | torch.Tensor] | None = None,
) -> torch.Tensor:
    """Decode any media file to uint8 ``(T, C, H, W)``: images give ``T = 1`` (the window is ignored)."""
    if is_image(path):
        image = read_image(path)
        return image if select is None else image[torch.as_tensor(select(1), dtype=torch.long)]
    return decode_video(path, start, end, select)


def default_codec(path: str | Path) -> str:
    """The encoder for a file suffix: H.264 (mpeg4 fallback) for mp4/mkv/mov/avi, VP8 (VP9 fallback) for webm."""
    suffix = Path(path).suffix.lower()
    if suffix == ".webm":
        preferences = ("libvpx", "libvpx-vp9")
    elif suffix in (".mp4", ".mkv", ".mov", ".m4v", ".avi"):
        preferences = ("libx264", "mpeg4")
    else:
        raise ValueError(f"no default codec for {suffix!r}; use .mp4, .mkv, .mov, .avi or .webm, or pass codec=")
    for codec in preferences:
        if codec in av.codecs_available:
            return codec
    raise RuntimeError(f"PyAV was built without any of the encoders {preferences} needed for {suffix}")


def encode_video(
    path: str | Path,
    clip: torch.Tensor,
    fps: float | Fraction = 25,
    codec: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a uint8 ``(T, C, H, W)`` clip (C = 1 or 3) to a video file; the codec follows the suffix by default.

    Quality defaults are high (near-lossless for small synthetic clips) so that round trips stay close.
    H and W must be even: every codec here stores 4:2:0 chroma.
    """
    if clip.ndim != 4 or clip.dtype != torch.uint8 or clip.shape[1] not in (1, 3) or clip.shape[0] == 0:
        raise ClipError(f"expected a uint8 clip (T, C, H, W) with C in (1, 3) and T > 0, got "
                        f"{clip.dtype} {tuple(clip.shape)}")
    height, width = clip.shape[-2:]
    if height % 2 or width % 2:
        raise ClipError(f"video frames need even height and width for yuv420p, got {height}x{width}")
    codec = codec or default_codec(path)
    opts = {"libx264": {"crf": "12", "preset": "veryfast"}, "mpeg4": {"qmin": "1", "qmax": "3"},
            "libvpx": {"crf": "4", "b": "4M", "deadline": "realtime", "cpu-used": "8"},
            "libvpx-vp9": {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8"}}.get(codec, {})
    opts |= options or {}
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    frames = clip.expand(-1, 3, -1, -1) if clip.shape[1] == 1 else clip
    array = frames.permute(0, 2, 3, 1).contiguous().numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate, options=opts)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in array:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))  # flush delayed frames
    return path


def _video_stream(container: av.container.InputContainer, path: str | Path) -> av.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError(path, "no video stream in the container")
    return container.streams.video[0]


def _decode_frames(container, path, start: float | None, end: float | None) -> list[av.VideoFrame]:
    """Decoded (still YUV) frames whose timestamps fall in ``[start, end)`` relative to the stream start."""
    stream = _video_stream(container, path)
    if get_worker_info() is None:
        stream.thread_type = "AUTO"  # frame + slice threads: ~1.5x faster decoding in a single process
    else:
        stream.codec_context.thread_count = 1  # DataLoader workers already use every core; don't oversubscribe
    offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    if start is not None and start > 0:
        container.seek(int((start + offset) / stream.time_base), stream=stream, backward=True, any_frame=False)
    fps = float(stream.average_rate) if stream.average_rate else 25.0
    frames: list[av.VideoFrame] = []
    for count, frame in enumerate(container.decode(stream)):
        # Frames without timestamps (rare, some raw streams) are placed by their index at the nominal rate.
        t = frame.time - offset if frame.time is not None else count / fps
        if start is not None and t < start - 1e-6:
            continue
        if end is not None and t >= end - 1e-6:
            break
        frames.append(frame)
    return frames


def _to_tensor(frames: list[av.VideoFrame]) -> torch.Tensor:
    # One swscale thread: FFmpeg's default thread pool made conversion ~5x slower (wall) on small frames.
    arrays = [frame.to_ndarray(format="rgb24", threads=1) for frame in frames]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
