"""Pruning masks: which weights of a model survive, kept as their own safetensors artifact.

A :class:`Mask` maps parameter names (``features.0.0.weight``) to boolean tensors of the same shape, True = kept.
It is saved next to the weights it belongs to (``level_<k>/mask.safetensors``), holds nothing but booleans and a
little JSON metadata (overall and per-layer sparsity), and never runs code on load. Which parameters may be
pruned at all is a :class:`LayerSelection`: conv and linear weights by default, while biases, norms, embeddings
and the classifier head stay dense (pruning the head of a 20-way classifier removes whole class scores).
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Iterator, Literal, Mapping

import torch
from pydantic import Field
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from vidsteal.config import BaseConfig

_KINDS: dict[str, tuple[type[nn.Module], ...]] = {
    "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    "linear": (nn.Linear,),
}


class LayerSelection(BaseConfig):
    """Which weights a pruning strategy may remove."""

    kinds: tuple[Literal["conv", "linear"], ...] = Field(("conv", "linear"),
                                                         description="layer types whose weight is prunable")
    exclude_head: bool = Field(True, description="keep the classifier head dense (the last nn.Linear of the model)")
    exclude: tuple[str, ...] = Field((), description="shell-style patterns of parameter names never to prune")


def head_name(model: nn.Module) -> str | None:
    """Module name of the classifier head: the last ``nn.Linear`` registered (every vidsteal model ends in one)."""
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return linears[-1] if linears else None


def prunable_names(model: nn.Module, selection: LayerSelection | None = None) -> list[str]:
    """Parameter names that ``selection`` allows to prune, in registration order."""
    selection = selection or LayerSelection()
    types = tuple(t for kind in selection.kinds for t in _KINDS[kind])
    head = head_name(model) if selection.exclude_head else None
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, types) or (head is not None and name == head):
            continue
        if not isinstance(getattr(module, "weight", None), nn.Parameter):
            continue
        pname = f"{name}.weight" if name else "weight"
        if not any(fnmatch.fnmatchcase(pname, pattern) for pattern in selection.exclude):
            names.append(pname)
    if not names:
        raise ValueError(f"no prunable parameters in {type(model).__name__} under {selection.to_dict()}")
    return names


class Mask:
    """Boolean keep-masks for some of a model's parameters (the prunable ones); everything else is dense."""

    def __init__(self, masks: Mapping[str, torch.Tensor]) -> None:
        if not masks:
            raise ValueError("a mask needs at least one parameter")
        self._masks = {name: m.detach().to("cpu", torch.bool).contiguous() for name, m in masks.items()}

    @classmethod
    def ones(cls, model: nn.Module, selection: LayerSelection | None = None) -> "Mask":
        """Dense mask (nothing pruned) over the prunable parameters of ``model``."""
        params = dict(model.named_parameters())
        return cls({name: torch.ones_like(params[name], dtype=torch.bool) for name in prunable_names(model, selection)})

    # -- container ---------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> torch.Tensor:
        return self._masks[name]

    def __contains__(self, name: object) -> bool:
        return name in self._masks

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(self._masks.items())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Mask) and self._masks.keys() == other._masks.keys()
                and all(torch.equal(m, other[n]) for n, m in self.items()))

    # -- statistics --------------------------------------------------------------------------------------
    @property
    def numel(self) -> int:
        return sum(m.numel() for m in self._masks.values())

    @property
    def num_kept(self) -> int:
        return sum(int(m.sum()) for m in self._masks.values())

    @property
    def sparsity(self) -> float:
        """Fraction of the prunable weights that are pruned."""
        return 1.0 - self.num_kept / self.numel

    def layer_sparsity(self) -> dict[str, float]:
        return {name: 1.0 - float(m.float().mean()) for name, m in self._masks.items()}

    def is_within(self, other: "Mask") -> bool:
        """True when every weight kept here is also kept in ``other`` (masks only ever shrink)."""
        return self._masks.keys() == other._masks.keys() and all(
            not bool((m & ~other[n]).any()) for n, m in self.items())

    def check_model(self, model: nn.Module) -> None:
        """Raise ``ValueError`` unless every masked name is a parameter of ``model`` with the same shape."""
        params = dict(model.named_parameters())
        for name, m in self.items():
            if name not in params:
                raise ValueError(f"mask names parameter {name!r}, which {type(model).__name__} does not have")
            if params[name].shape != m.shape:
                raise ValueError(f"mask for {name} has shape {tuple(m.shape)}, "
                                 f"parameter has {tuple(params[name].shape)}")

    def random_like(self, seed: int) -> "Mask":
        """A mask with the same number of kept weights in every layer, at random positions (the IMP control)."""
        g = torch.Generator().manual_seed(seed)
        out = {}
        for name, m in self.items():
            flat = torch.zeros(m.numel(), dtype=torch.bool)
            flat[torch.randperm(m.numel(), generator=g)[: int(m.sum())]] = True
            out[name] = flat.view_as(m)
        return Mask(out)

    # -- artifact ----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, object]:
        return {"sparsity": self.sparsity, "kept": self.num_kept, "prunable": self.numel,
                "layers": self.layer_sparsity()}

    def save(self, path: str | Path, **extra: object) -> Path:
        """Write ``path`` atomically; the metadata holds :meth:`summary` plus ``extra`` (e.g. level, threshold)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        meta = {"vidsteal_mask": json.dumps({**self.summary(), **extra})}
        save_file(dict(self._masks), str(tmp), metadata=meta)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Mask":
        with safe_open(str(path), framework="pt") as f:
            if "vidsteal_mask" not in (f.metadata() or {}):
                raise ValueError(f"{path} is not a vidsteal mask (no 'vidsteal_mask' metadata)")
            return cls({name: f.get_tensor(name) for name in f.keys()})

    @staticmethod
    def read_summary(path: str | Path) -> dict[str, object]:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})["vidsteal_mask"])

    def __repr__(self) -> str:
        return f"Mask({len(self)} tensors, sparsity={self.sparsity:.4f})"
