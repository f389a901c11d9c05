"""Victims that are not vidsteal models: ``module:factory``, torch.export ``.pt2`` and TorchScript files.

Each comes with a model card (:class:`~vidsteal.models.contract.InputContract`, YAML or JSON) declaring its input
contract; the loaded model is validated against it and wrapped to take vidsteal's clips. These formats carry the
model's own code or graph, so load only models you trust, as you would run their Python. The card sits beside
a file as ``<stem>.card.yaml`` (or ``.card.yml``, ``.card.json``, ``.yaml``, ``.yml``, ``.json``), or is given.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch
from torch import nn

from vidsteal.models.contract import ContractError, ContractModel, InputContract, check_contract
from vidsteal.models.registry import MODELS, ModelCard, create_model, load_model

EXPORT_SUFFIXES = (".pt2",)
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript")
CARD_SUFFIXES = (".card.yaml", ".card.yml", ".card.json", ".yaml", ".yml", ".json")
_IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_import_string(spec: str) -> bool:
    return bool(_IMPORT_STRING.match(spec)) and not Path(spec).exists()


def find_card(path: str | Path) -> Path | None:
    """The card file beside a model file, if there is one."""
    path = Path(path)
    for suffix in CARD_SUFFIXES:
        candidate = path.with_name(path.stem + suffix)
        if candidate.is_file() and candidate != path:
            return candidate
    return None


def load_external(source: str | Path, card: str | Path | InputContract | None = None,
                  device: str | torch.device = "cpu") -> ContractModel:
    """Load an outside model, check it against its card, and wrap it to take vidsteal clips.

    Args:
        source: ``package.module:factory`` (called with the card's ``factory_kwargs``), a ``.pt2`` file
            (``torch.export.save``) or a TorchScript file (``torch.jit.save``).
        card: the card (path or object); found beside a file when omitted, required for ``module:factory``.
        device: where the model runs.

    Raises:
        ContractError: no card, an invalid card, or a model that does not behave as the card declares.
    """
    source = str(source)
    contract = _contract(source, card)
    model = _load_module(source, contract, torch.device(device))
    exported = Path(source).suffix in EXPORT_SUFFIXES and not is_import_string(source)
    wrapped = ContractModel(model, contract, fixed_mode=exported).to(device).eval()
    check_contract(wrapped, source)
    wrapped.card = ModelCard(  # type: ignore[assignment]
        arch="external", num_classes=contract.num_outputs, kwargs={"source": source},
        frames=contract.frames, size=contract.size[0] if contract.size[0] == contract.size[1] else None,
        categories=contract.classes,
    )
    return wrapped


def load_victim_model(spec: str, card: str | Path | None = None, device: str | torch.device = "cpu",
                      num_classes: int | None = None) -> nn.Module:
    """What ``--victim`` accepts: a vidsteal ``.safetensors`` file, an outside model (see :func:`load_external`),
    or a registered model name (random weights, for tests and demos; then ``num_classes`` is required)."""
    path = Path(spec)
    if path.suffix == ".safetensors":
        return load_model(path, map_location=device)
    if is_import_string(spec) or path.suffix in EXPORT_SUFFIXES + TORCHSCRIPT_SUFFIXES:
        return load_external(spec, card, device)
    if spec in MODELS:
        if num_classes is None:
            raise ValueError(f"registered model {spec!r} needs num_classes")
        return create_model(spec, num_classes).to(device)
    raise ValueError(f"cannot tell what victim {spec!r} is: expected a .safetensors/.pt2/TorchScript file, "
                     f"module:factory, or a registered model name")


def _contract(source: str, card: str | Path | InputContract | None) -> InputContract:
    if isinstance(card, InputContract):
        return card
    if card is None:
        card = None if is_import_string(source) else find_card(source)
        if card is None:
            beside = f"put {Path(source).stem}.card.yaml beside it, or "
            raise ContractError(f"{source} needs a model card declaring its input contract; "
                                f"{'' if is_import_string(source) else beside}pass card=")
    return InputContract.from_file(card)


def _load_module(source: str, contract: InputContract, device: torch.device) -> nn.Module:
    if is_import_string(source):
        module_name, attr = source.split(":")
        try:
            factory = importlib.import_module(module_name)
            for part in attr.split("."):
                factory = getattr(factory, part)
        except (ImportError, AttributeError) as err:
            raise ContractError(f"cannot import {source}: {err}") from err
        model = factory(**contract.factory_kwargs)
        if not isinstance(model, nn.Module):
            raise ContractError(f"{source} returned a {type(model).__name__}, not a torch.nn.Module")
        return model.to(device)
    path = Path(source)
    if not path.is_file():
        raise ContractError(f"model file {path} does not exist")
    if contract.factory_kwargs:
        raise ContractError(f"factory_kwargs in the card only apply to module:factory victims, not {path.name}")
    if path.suffix in EXPORT_SUFFIXES:
        try:
            return torch.export.load(str(path)).module().to(device)
        except Exception as err:  # noqa: BLE001 - torch.export raises many types for a bad archive
            raise ContractError(f"{path} is not a torch.export archive: {type(err).__name__}: {err}") from err
    try:
        return torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError) as err:
        raise ContractError(f"{path} is not a TorchScript archive ({err}); a state dict needs its architecture: "
                            f"create_model(...) then load_weights(...)") from err
