"""Tiny media files written by the tests themselves: a coloured square moving right, 12 frames of 32x32.

Helpers reach tests as fixtures (``make_clip``, ``write_png``): tests/ has no packages to import them from.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
import torch

from vidsteal.data.decode import encode_video

FRAMES, SIZE, FPS = 12, 32, 12
COLOUR = torch.tensor([230, 60, 20], dtype=torch.uint8)


def moving_square(frames: int = FRAMES, size: int = SIZE, shift: int = 0) -> torch.Tensor:
    """uint8 (T, 3, H, W): grey background, an 8x8 square moving 2 px right per frame from x = shift."""
    clip = torch.full((frames, 3, size, size), 40, dtype=torch.uint8)
    for t in range(frames):
        x = (shift + 2 * t) % (size - 8)
        clip[t, :, 12:20, x:x + 8] = COLOUR[:, None, None]
    return clip


def write_image(path: Path, image: torch.Tensor) -> Path:
    """Write a uint8 (3, H, W) image as png with PyAV (lossless)."""
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = image.shape[2], image.shape[1], "rgb24"
        frame = av.VideoFrame.from_ndarray(image.permute(1, 2, 0).contiguous().numpy(), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="session")
def make_clip():
    return moving_square


@pytest.fixture(scope="session")
def write_png():
    return write_image


@pytest.fixture(scope="session")
def clip() -> torch.Tensor:
    return moving_square()


@pytest.fixture(scope="session")
def media(tmp_path_factory, clip) -> dict[str, Path]:
    """One good mp4 and webm, a png, and broken files: random bytes named .mp4, a truncated mp4, an empty file."""
    root = tmp_path_factory.mktemp("media")
    files = {"mp4": encode_video(root / "square.mp4", clip, fps=FPS),
             "webm": encode_video(root / "square.webm", clip, fps=FPS),
             "png": write_image(root / "frame.png", clip[3])}
    files["random"] = root / "random.mp4"
    files["random"].write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                              dtype=torch.uint8).numpy().tobytes())
    files["truncated"] = root / "truncated.mp4"
    files["truncated"].write_bytes(files["mp4"].read_bytes()[: files["mp4"].stat().st_size // 2])
    files["empty"] = root / "empty.mp4"
    files["empty"].write_bytes(b"")
    return files
