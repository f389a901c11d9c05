import av
import pytest
import torch

from vidsteal.data.clips import ClipError
from vidsteal.data.decode import VideoDecodeError, decode_file, decode_video, encode_video, probe, read_image

FPS, FRAMES, SIZE = 12, 12, 32  # as written by conftest.moving_square


def _mean_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().mean().item()


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_round_trip_keeps_shape_dtype_and_pixels(media, clip, kind):
    decoded = decode_video(media[kind])
    assert decoded.shape == (FRAMES, 3, SIZE, SIZE) and decoded.dtype == torch.uint8
    assert _mean_error(decoded, clip) < 4  # lossy codec, near-lossless settings
    # the square is where it was drawn: frame 5's brightest red column block starts at x = 10
    red = decoded[5, 0, 16].float()
    assert red[10:18].mean() > 180 and red[:8].mean() < 80


def test_mpeg4_fallback_codec_round_trips(tmp_path, clip):
    path = encode_video(tmp_path / "m.mp4", clip, fps=FPS, codec="mpeg4")
    assert av.open(str(path)).streams.video[0].codec_context.name == "mpeg4"
    assert _mean_error(decode_video(path), clip) < 6


def test_time_window_decodes_only_its_frames(media, clip):
    window = decode_video(media["mp4"], start=0.5, end=0.75)  # frames at 6/12, 7/12, 8/12 s
    assert window.shape[0] == 3
    assert _mean_error(window, clip[6:9]) < 4
    tail = decode_video(media["webm"], start=0.75)
    assert tail.shape[0] == FRAMES - 9
    head = decode_video(media["mp4"], end=0.25)
    assert head.shape[0] == 3


def test_window_past_the_end_is_a_decode_error(media):
    with pytest.raises(VideoDecodeError, match="no frames in the window"):
        decode_video(media["mp4"], start=5.0, end=6.0)
    with pytest.raises(ValueError, match="empty time window"):
        decode_video(media["mp4"], start=1.0, end=1.0)


def test_select_converts_only_chosen_frames(media, clip):
    chosen = decode_video(media["mp4"], select=lambda n: [n - 1, 0, 0])
    assert chosen.shape[0] == 3
    assert _mean_error(chosen[1], chosen[2]) == 0
    assert _mean_error(chosen[0], clip[-1]) < 4


def test_image_is_a_single_frame_clip(media, clip):
    image = read_image(media["png"])
    assert image.shape == (1, 3, SIZE, SIZE) and image.dtype == torch.uint8
    assert torch.equal(image[0], clip[3])  # png is lossless
    assert torch.equal(decode_file(media["png"], start=3.0, end=4.0), image)  # a window means nothing for an image


def test_probe_reads_the_header(media):
    info = probe(media["mp4"])
    assert (info.width, info.height, info.fps, info.frames) == (SIZE, SIZE, FPS, FRAMES)


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_broken_files_raise_one_error_naming_the_file(media, kind):
    for read in (decode_video, probe):
        with pytest.raises(VideoDecodeError, match=media[kind].name) as info:
            read(media[kind])
        assert info.value.path == str(media[kind]) and info.value.cause


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(VideoDecodeError, match="nope.mp4.*No such file"):
        decode_video(tmp_path / "nope.mp4")


def test_encode_rejects_bad_clips(tmp_path):
    with pytest.raises(ClipError, match="even height and width"):
        encode_video(tmp_path / "odd.mp4", torch.zeros(2, 3, 31, 32, dtype=torch.uint8))
    with pytest.raises(ClipError, match="uint8"):
        encode_video(tmp_path / "float.mp4", torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="no default codec"):
        encode_video(tmp_path / "clip.xyz", torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_grayscale_clip_is_written_as_rgb(tmp_path):
    gray = torch.full((4, 1, 16, 16), 128, dtype=torch.uint8)
    decoded = decode_video(encode_video(tmp_path / "g.webm", gray, fps=8))
    assert decoded.shape == (4, 3, 16, 16)
    assert _mean_error(decoded, gray.expand(-1, 3, -1, -1)) < 3
