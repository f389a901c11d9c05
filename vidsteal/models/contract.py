"""Input contracts of outside models, and the adapter that gives such a model vidsteal's clip contract.

A user's victim can want ``(N, T, C, H, W)`` clips in ``[0, 255]``, BGR, its own mean/std, and may return
probabilities. Its card (a small YAML or JSON file next to it) says so; :class:`ContractModel` converts
vidsteal's float ``(B, C, T, H, W)`` ``[0, 1]`` RGB clips into that form, and turns probabilities into logits
(``log p``, whose softmax is ``p`` again), so every victim looks the same to the oracle and the attacks.
:func:`check_contract` runs a dummy batch on load, so a wrong card fails at once with a message saying what
does not match, instead of silently feeding the victim garbage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from pydantic import Field, ValidationError, model_validator
from torch import nn

from vidsteal.config import BaseConfig
from vidsteal.data.clips import ClipError


class ContractError(ValueError):
    """A model card that is invalid, or a model that does not behave as its card declares."""


class InputContract(BaseConfig):
    """What an outside model takes and returns (the model card shipped with a ``.pt2``/TorchScript/factory model)."""

    layout: Literal["NCTHW", "NTCHW"] = Field("NCTHW", description="tensor layout the model takes")
    frames: int = Field(ge=1, description="clip length T the model takes")
    size: tuple[int, int] = Field(description="frame (height, width); a single number means square")
    value_range: Literal[1, 255] = Field(1, description="pixel scale: 1 for [0, 1], 255 for [0, 255]")
    channels: Literal["RGB", "BGR"] = Field("RGB", description="channel order")
    mean: tuple[float, float, float] | None = Field(None, description="per-channel mean, in value_range units")
    std: tuple[float, float, float] | None = Field(None, description="per-channel std, in value_range units")
    output: Literal["logits", "probabilities"] = Field("logits", description="what the model returns")
    classes: list[str] | None = Field(None, description="class names in output order")
    num_classes: int | None = Field(None, ge=1, description="output size, when class names are not given")
    dtype: Literal["float32", "float16", "bfloat16"] = Field("float32", description="input dtype")
    batch_size: int | None = Field(None, ge=1, description="fixed batch of an exported graph (the adapter pads)")
    factory_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for module:factory")

    @model_validator(mode="before")
    @classmethod
    def _square(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("size"), int):
            data = {**data, "size": (data["size"], data["size"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "InputContract":
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if self.classes is None and self.num_classes is None:
            raise ValueError("declare the output classes: 'classes' (names) or 'num_classes'")
        if self.classes is not None and self.num_classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(f"{len(self.classes)} class names but num_classes = {self.num_classes}")
        return self

    @property
    def num_outputs(self) -> int:
        return len(self.classes) if self.classes is not None else int(self.num_classes)  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, path: str | Path) -> "InputContract":
        """Read a YAML or JSON card; ``classes`` may also name a text file (one class per line) beside it."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ContractError(f"cannot read model card {path}: {err}") from err
        if not isinstance(data, dict):
            raise ContractError(f"model card {path} must be a mapping")
        if isinstance(data.get("classes"), str):
            names = path.parent / data["classes"]
            if not names.is_file():
                raise ContractError(f"model card {path}: classes file {names} does not exist")
            data["classes"] = [line.strip() for line in names.read_text().splitlines() if line.strip()]
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(card)'}: {e['msg']}" for e in err.errors()]
            raise ContractError(f"invalid model card {path}:\n" + "\n".join(lines)) from None


class ContractModel(nn.Module):
    """Wraps ``model`` so it takes float ``(B, C, T, H, W)`` RGB in ``[0, 1]`` and returns logits ``(B, K)``."""

    def __init__(self, model: nn.Module, contract: InputContract, fixed_mode: bool = False) -> None:
        super().__init__()
        self.model, self.contract = model, contract
        self.fixed_mode = fixed_mode  # torch.export graphs keep the mode they were exported in
        mean = torch.tensor(contract.mean or (0.0, 0.0, 0.0))
        std = torch.tensor(contract.std or (1.0, 1.0, 1.0))
        # [0, 1] -> the model's units, (x * value_range - mean) / std, as one multiply-add.
        self.register_buffer("mul", (contract.value_range / std).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("add", (-mean / std).view(1, 3, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.contract
        expected = (3, c.frames, *c.size)
        if x.ndim != 5 or tuple(x.shape[1:]) != expected:
            raise ClipError(f"this victim takes clips (B, C, T, H, W) = (B, {', '.join(map(str, expected))}) "
                            f"as its card declares, got {tuple(x.shape)}; resize/resample the clips first")
        units = self.to_model_units(x)
        out = torch.cat([self._run(chunk) for chunk in units.split(c.batch_size or units.shape[0])])
        if c.output == "probabilities":
            return out.clamp_min(torch.finfo(out.dtype).tiny).log()
        return out

    def train(self, mode: bool = True) -> "ContractModel":
        self.training = mode
        if not self.fixed_mode:
            self.model.train(mode)
        return self

    def to_model_units(self, x: torch.Tensor) -> torch.Tensor:
        """vidsteal clips -> the layout, channel order, scale, normalisation and dtype the card declares."""
        c = self.contract
        x = (x.flip(1) if c.channels == "BGR" else x) * self.mul + self.add
        x = x.transpose(1, 2) if c.layout == "NTCHW" else x
        return x.contiguous().to(getattr(torch, c.dtype))

    def _run(self, chunk: torch.Tensor) -> torch.Tensor:
        fixed, n = self.contract.batch_size, chunk.shape[0]
        if fixed is not None and n < fixed:  # an exported graph with a static batch: pad with copies, drop after
            chunk = torch.cat([chunk, chunk[-1:].expand(fixed - n, *chunk.shape[1:])])
        out = self.model(chunk)
        if not isinstance(out, torch.Tensor):
            raise ContractError(f"the model returned a {type(out).__name__}, not a tensor of class scores")
        return out[:n].float()


def check_contract(model: ContractModel, source: str) -> None:
    """Run a random batch as the card declares it and check the output; raises :class:`ContractError`."""
    c = model.contract
    n = c.batch_size or 2
    batch = torch.rand(n, 3, c.frames, *c.size, generator=torch.Generator().manual_seed(0))
    device = next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))
    declared = f"layout {c.layout}, {c.frames} frames of {c.size[0]}x{c.size[1]}, {c.dtype}, range [0, {c.value_range}]"
    try:
        with torch.inference_mode():
            raw = model.model(model.to_model_units(batch.to(device)))
    except Exception as err:  # noqa: BLE001 - any failure means the card does not describe this model
        hint = "; exported with a static batch? declare it as batch_size" if "Guard failed" in str(err) else ""
        raise ContractError(f"{source} rejects the input its card declares ({declared}): "
                            f"{type(err).__name__}: {err}{hint}") from err
    if not isinstance(raw, torch.Tensor) or raw.shape != (n, c.num_outputs):
        got = tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__
        raise ContractError(f"{source} returned {got} for a batch of {n}; its card declares {c.num_outputs} "
                            f"classes, so ({n}, {c.num_outputs}) was expected")
    raw = raw.float().cpu()
    if c.batch_size is None:  # a graph exported with a fixed batch passes the check above but fails later
        try:
            with torch.inference_mode():
                model.model(model.to_model_units(batch[:1].to(device)))
        except Exception as err:  # noqa: BLE001
            raise ContractError(f"{source} takes a batch of {n} but not of 1 ({type(err).__name__}); exported "
                                f"with a static batch? declare it as batch_size in the card") from err
    if not torch.isfinite(raw).all():
        raise ContractError(f"{source} returned NaN/Inf for a valid random batch ({declared})")
    sums = raw.sum(1)
    is_distribution = bool((raw >= 0).all() and (raw <= 1).all() and torch.allclose(sums, torch.ones(n), atol=1e-3))
    if c.output == "probabilities" and not is_distribution:
        raise ContractError(f"{source}'s card says it returns probabilities, but its rows sum to "
                            f"{[round(v, 4) for v in sums.tolist()]} with values in "
                            f"[{raw.min():.3g}, {raw.max():.3g}]: set output: logits?")
    if c.output == "logits" and is_distribution and c.num_outputs > 1:
        raise ContractError(f"{source}'s card says it returns logits, but its outputs are probability vectors; "
                            f"set output: probabilities")
