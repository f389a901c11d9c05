"""Key mapping between converted MoViNet checkpoints and :class:`vidsteal.models.movinet.MoViNet`.

The published MoViNet weights are TensorFlow checkpoints. The usual PyTorch conversion is the one of the
MoViNet-pytorch port (github.com/Atze00/MoViNet-pytorch, base models ``modelA{0,1,2}_statedict_v3``: non-causal,
``tf_like`` padding, Kinetics-600). Its state dict is the *reference layout*; ours names the same tensors by what
they do. Per block ``b{i}_l{j}`` = stage i, layer j (both 0-based), every rule maps a key prefix, and the tensor
suffix (``weight``, ``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``) is kept:

=======================================  =====================================
reference                                 vidsteal
=======================================  =====================================
conv1.conv_1.conv3d. / .norm.              stem.conv. / stem.bn.
blocks.b{i}_l{j}.expand.conv_1.conv3d.     stages.{i}.{j}.expand.conv.   (norm. -> bn.)
blocks.b{i}_l{j}.deep.conv_1.conv3d.       stages.{i}.{j}.depthwise.conv. (norm. -> bn.)
blocks.b{i}_l{j}.se.fc1.conv_1.conv3d.     stages.{i}.{j}.se.reduce.
blocks.b{i}_l{j}.se.fc2.conv_1.conv3d.     stages.{i}.{j}.se.expand.
blocks.b{i}_l{j}.project.conv_1.conv3d.    stages.{i}.{j}.project.conv.  (norm. -> bn.)
blocks.b{i}_l{j}.res.{r}.conv_1.conv3d.    stages.{i}.{j}.shortcut.proj.conv. (norm. -> bn.)
blocks.b{i}_l{j}.alpha                     stages.{i}.{j}.rezero
conv7.conv_1.conv3d. / .norm.              head.conv. / head.bn.
classifier.0.conv_1.conv3d.                classifier.hidden.  (weight (o, i, 1, 1, 1) -> (o, i))
classifier.3.conv_1.conv3d.                classifier.fc.      (weight (o, i, 1, 1, 1) -> (o, i))
=======================================  =====================================

``r`` is 1 when the shortcut average-pools first (strided blocks) and 0 otherwise; reading ignores it. Older
files of the same port lack the ``conv_1.`` level (and the SE/classifier convs their ``conv3d.`` level); reading
accepts both, writing produces the v3 layout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from vidsteal.models.checkpoints import WeightsError, load_into, read_state_dict

_B = "blocks.b{i}_l{j}."
_S = "stages.{i}.{j}."
RULES: tuple[tuple[str, str], ...] = (
    ("conv1.conv_1.conv3d.", "stem.conv."),
    ("conv1.conv_1.norm.", "stem.bn."),
    *((f"{_B}{ref}.conv_1.{kind}.", f"{_S}{ours}.{short}.")
      for ref, ours in (("expand", "expand"), ("deep", "depthwise"), ("project", "project"),
                        ("res.{r}", "shortcut.proj"))
      for kind, short in (("conv3d", "conv"), ("norm", "bn"))),
    (f"{_B}se.fc1.conv_1.conv3d.", f"{_S}se.reduce."),
    (f"{_B}se.fc2.conv_1.conv3d.", f"{_S}se.expand."),
    (f"{_B}alpha", f"{_S}rezero"),
    ("conv7.conv_1.conv3d.", "head.conv."),
    ("conv7.conv_1.norm.", "head.bn."),
    ("classifier.0.conv_1.conv3d.", "classifier.hidden."),
    ("classifier.3.conv_1.conv3d.", "classifier.fc."),
)


def _pattern(template: str, lenient: bool) -> re.Pattern[str]:
    """A template + tensor suffix as a regex; ``lenient`` makes the port's ``conv_1.``/``conv3d.`` levels optional."""
    regex = re.escape(template)
    for name in ("i", "j", "r"):
        regex = regex.replace(re.escape("{" + name + "}"), rf"(?P<{name}>\d+)")
    if lenient:
        regex = regex.replace(re.escape("conv_1."), r"(?:conv_1\.)?").replace(re.escape("conv3d."), r"(?:conv3d\.)?")
    return re.compile("^" + regex + r"(?P<suffix>\w*)$")


_FROM_REFERENCE = [(_pattern(ref, lenient=True), ours) for ref, ours in RULES]
_TO_REFERENCE = [(_pattern(ours, lenient=False), ref) for ref, ours in RULES]


def reference_key_to_ours(key: str) -> str:
    """Rename one reference-layout key; raises :class:`WeightsError` for keys no rule covers."""
    for pattern, template in _FROM_REFERENCE:
        match = pattern.match(key)
        if match:
            return template.format(**match.groupdict()) + match["suffix"]
    raise WeightsError(f"no MoViNet key rule matches {key!r} (is this a base, non-streaming MoViNet checkpoint?)")


def convert_reference_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reference-layout state dict -> ours (renamed keys, classifier weights flattened to 2-D)."""
    out = {}
    for key, value in state.items():
        ours = reference_key_to_ours(key)
        if ours.startswith("classifier.") and ours.endswith(".weight"):
            value = value.flatten(1)
        out[ours] = value
    return out


def to_reference_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A :class:`~vidsteal.models.movinet.MoViNet`'s state dict in the reference (v3) layout.

    The inverse of :func:`convert_reference_state_dict`. Takes the model only as a module, so this mapping does
    not import the architecture (which imports the mapping to load weights).
    """
    out = {}
    for key, value in model.state_dict().items():
        for pattern, template in _TO_REFERENCE:
            match = pattern.match(key)
            if match:
                fields = match.groupdict()
                if "i" in fields:
                    shortcut = model.stages[int(fields["i"])][int(fields["j"])].shortcut  # type: ignore[index]
                    pools = shortcut is not None and not isinstance(shortcut.pool, nn.Identity)  # strided: SamePool
                    fields["r"] = "1" if pools else "0"
                if key.startswith("classifier.") and value.ndim == 2:
                    value = value.reshape(*value.shape, 1, 1, 1)
                out[template.format(**fields) + fields["suffix"]] = value
                break
        else:
            raise WeightsError(f"no MoViNet key rule covers our key {key!r}")
    return out


def load_reference(model: nn.Module, path: str | Path, skip_classifier: bool = False) -> None:
    """Load a converted checkpoint into ``model``; ``skip_classifier`` keeps the model's own last layer."""
    state = convert_reference_state_dict(read_state_dict(path))
    if skip_classifier:
        own = model.state_dict()
        state = {k: v for k, v in state.items() if not k.startswith("classifier.fc.")}
        state |= {k: v for k, v in own.items() if k.startswith("classifier.fc.")}
    load_into(model, state, str(path), "MoViNet reference-port")
