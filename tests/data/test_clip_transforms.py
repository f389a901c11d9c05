import pytest
import torch
from pydantic import ValidationError

from vidsteal.data.transforms import ClipTransform, crop, resize_short_side, temporal_indices


def test_center_clip_sits_in_the_middle_with_stride():
    assert temporal_indices(10, 4, stride=1).tolist() == [3, 4, 5, 6]
    assert temporal_indices(10, 4, stride=2).tolist() == [1, 3, 5, 7]
    assert temporal_indices(7, 4, stride=2).tolist() == [0, 2, 4, 6]  # span fills the video exactly


def test_random_clips_vary_stay_inside_and_follow_the_seed():
    draws = [temporal_indices(40, 4, 3, "random", generator=torch.Generator().manual_seed(s)) for s in range(20)]
    assert len({d[0].item() for d in draws}) > 3
    for d in draws:
        assert d.min() >= 0 and d.max() < 40 and torch.equal(d.diff(), torch.full((3,), 3))
    again = temporal_indices(40, 4, 3, "random", generator=torch.Generator().manual_seed(7))
    assert torch.equal(again, draws[7])


def test_short_videos_are_padded_by_looping_or_repeating():
    assert temporal_indices(3, 5).tolist() == [0, 1, 2, 0, 1]
    assert temporal_indices(3, 5, pad="repeat_last").tolist() == [0, 1, 2, 2, 2]
    assert temporal_indices(4, 3, stride=2).tolist() == [0, 2, 0]
    assert temporal_indices(1, 4, position="random").tolist() == [0, 0, 0, 0]  # an image as a static clip


def test_several_clips_cover_the_video_in_order():
    centers = [temporal_indices(30, 4, 2, clip_index=k, num_clips=3)[0].item() for k in range(3)]
    assert centers == sorted(centers) and centers[0] < 8 and centers[-1] > 15
    for k in range(3):  # each random clip starts inside its own third of the 24 possible starts
        start = temporal_indices(30, 4, 2, "random", clip_index=k, num_clips=3)[0].item()
        assert 8 * k <= start < 8 * (k + 1)


def test_bad_sampling_arguments_raise():
    with pytest.raises(ValueError, match="0 frames"):
        temporal_indices(0, 4)
    with pytest.raises(ValueError, match="clip_index"):
        temporal_indices(10, 4, clip_index=2, num_clips=2)
    with pytest.raises(ValueError, match="position"):
        temporal_indices(10, 4, position="middle")


def test_resize_keeps_aspect_and_crops():
    clip = torch.randint(0, 256, (3, 3, 32, 48), dtype=torch.uint8)
    resized = resize_short_side(clip, 16)
    assert resized.shape == (3, 3, 16, 24) and resized.dtype == torch.uint8
    assert torch.equal(crop(clip, 16), clip[..., 8:24, 16:32])
    g = torch.Generator().manual_seed(0)
    corners = {tuple(crop(torch.arange(48.).view(1, 1, 1, 48).expand(1, 1, 20, 48), 20, "random", g)[0, 0, 0, :1]
                     .tolist()) for _ in range(10)}
    assert len(corners) > 1  # random crops move
    assert crop(clip, 40).shape[-2:] == (40, 40)  # smaller than the crop: zero-padded, centred


def test_clip_transform_bundles_sampling_resize_crop():
    frames = torch.randint(0, 256, (20, 3, 36, 64), dtype=torch.uint8)
    eval_tf = ClipTransform(num_frames=4, stride=2, resize=24, crop=20)
    out = eval_tf(frames)
    assert out.shape == (4, 3, 20, 20) and out.dtype == torch.uint8
    assert torch.equal(out, eval_tf(frames))  # center sampling and crop are deterministic
    train_tf = ClipTransform(num_frames=4, position="random", resize=24, crop=20, crop_mode="random", hflip=True)
    outs = {train_tf(frames).float().sum().item() for _ in range(8)}
    assert len(outs) > 1
    assert ClipTransform(num_frames=1, resize=None, crop=None)(frames[:1]).shape == (1, 3, 36, 64)


def test_clip_transform_config_is_typed_and_strict():
    with pytest.raises(ValidationError, match="larger than the resized"):
        ClipTransform(resize=16, crop=32)
    with pytest.raises(ValidationError):
        ClipTransform(num_frame=8)  # misspelt key
    with pytest.raises(ValidationError):
        ClipTransform(position="middle")
    assert ClipTransform(stride=2).hash() != ClipTransform().hash()


def test_random_shift_moves_each_clip_as_a_whole_and_fills_edges_by_replication():
    from vidsteal.data.transforms import random_shift

    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (16, 3, 2, 8, 8), dtype=torch.uint8, generator=g)
    assert random_shift(clips, 0.0, g) is clips  # off: untouched, no randomness drawn
    out = random_shift(clips, 0.25, torch.Generator().manual_seed(1))
    assert out.shape == clips.shape and out.dtype == torch.uint8
    moved = 0
    for clip, shifted in zip(clips, out):
        # find the clip's own offset (at most 2 px = 0.25 * 8) and check every frame and channel follows it
        def moved_by(dy: int, dx: int, clip=clip) -> torch.Tensor:
            return clip[:, :, (torch.arange(8) + dy).clamp(0, 7)][..., (torch.arange(8) + dx).clamp(0, 7)]

        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(shifted, moved_by(dy, dx))]
        assert len(matches) == 1, matches
        moved += matches[0] != (0, 0)
    assert moved >= 12  # offsets are random per clip, (0, 0) is one of 25
    again = random_shift(clips, 0.25, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)  # a function of the generator: resumed students replay the same shifts
