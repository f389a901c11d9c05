"""check_model_input: one pass on the way to the victim, and still every bad batch refused with its reason."""

import pytest
import torch

from vidsteal.data.clips import ClipError, check_model_input


def _clips(value: float | None = None) -> torch.Tensor:
    clips = torch.rand(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    if value is not None:
        clips[1, 2, 3, 4, 5] = value
    return clips


def test_valid_batches_pass_including_the_bounds_and_empty_ones():
    check_model_input(_clips())
    check_model_input(_clips(0.0))
    check_model_input(_clips(1.0))
    check_model_input(torch.zeros(0, 3, 4, 8, 8))
    check_model_input(_clips().bfloat16())


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_named_as_such(value):
    with pytest.raises(ClipError, match="NaN or Inf"):
        check_model_input(_clips(value))


@pytest.mark.parametrize("value, shown", [(-0.5, r"got \[-0.5, 1\]"), (1.25, r"got \[\d.*, 1.25\]")])
def test_values_outside_the_unit_range_give_the_range_found(value, shown):
    with pytest.raises(ClipError, match=r"values must lie in \[0, 1\], " + shown):
        check_model_input(_clips(value))


def test_shape_dtype_and_channels_are_checked_first():
    with pytest.raises(ClipError, match="expected a float batch"):
        check_model_input(torch.zeros(2, 3, 4, 8, 8, dtype=torch.uint8))
    with pytest.raises(ClipError, match="3 channels"):
        check_model_input(torch.zeros(2, 1, 4, 8, 8))
    with pytest.raises(ClipError, match=r"\(B, C, T, H, W\)"):
        check_model_input(torch.zeros(3, 8, 8))
