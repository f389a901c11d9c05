"""One victim spec for every command: a string naming a model file, a factory or an endpoint -> an oracle + card.

Spec kinds (``--victim SPEC``):

- ``victim.safetensors``: a vidsteal model file (its card travels inside).
- ``victim.ts`` / ``.pt`` / ``.pth`` / ``.jit`` (TorchScript), ``victim.pt2`` (torch.export) or ``pkg.mod:factory``:
  an outside model with its input contract card, found beside the file or given as ``card``.
- ``http://host:port``: a vidsteal server (``/v1``); the key comes from ``api_key`` or ``$VIDSTEAL_API_KEY``.
- ``oip+http://host:port/v2/models/NAME[/versions/V]``: any Open Inference Protocol v2 server (MLServer, Triton,
  KServe, vidsteal's own ``/v2``); classes, frames and size come from the model metadata where the server gives
  them, else from ``card``.

Anything wrong with a spec (missing file, unreadable bytes, refused connection, card that does not fit the model)
raises :class:`VictimSpecError` with one line naming what was expected, before any query is paid. Remote victims
are checked once here (reachable, metadata readable, card consistent with the answers' size).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
from torch import nn

from vidsteal.models.contract import ContractError, InputContract
from vidsteal.models.external import EXPORT_SUFFIXES, TORCHSCRIPT_SUFFIXES, is_import_string, load_external
from vidsteal.models.registry import ModelCard, load_model
from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.http import HttpOracle
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.oip import OipOracle
from vidsteal.victims.outputs import OutputMode

API_KEY_ENV = "VIDSTEAL_API_KEY"
EXPECTED = ("a .safetensors, TorchScript (.ts/.pt/.pth/.jit) or .pt2 file, module:factory, http://host:port "
            "or oip+http://host:port/v2/models/NAME")
Kind = Literal["safetensors", "torchscript", "export", "factory", "http", "oip"]
_OIP = re.compile(r"^oip\+(https?://[^/]+)/v2/models/([^/]+)(?:/versions/([^/]+))?/?$")


class VictimSpecError(ValueError):
    """A victim spec that names nothing usable; ``str(err)`` is one line saying what was expected."""

    def __init__(self, message: str, limit: int = 400) -> None:
        line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        super().__init__(line if len(line) <= limit else line[: limit - 3] + "...")


@dataclass
class Victim:
    """A resolved victim.

    Attributes:
        spec: what the user typed.
        kind: which of the spec kinds it is.
        oracle: the victim behind the query interface (not yet budgeted or logged).
        card: num_classes, class names, clip frames/size and, for embedded victims, the benchmark it learned.
        model: the in-process model, for victims whose accuracy the auditor may measure without paying
            (None for remote victims: their accuracy costs real queries).
    """

    spec: str
    kind: Kind
    oracle: Oracle
    card: ModelCard
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return self.model is None

    @property
    def classes(self) -> list[str] | None:
        return self.card.categories

    def close(self) -> None:
        close = getattr(self.oracle, "close", None)
        if close is not None:
            close()


def resolve_victim(spec: str | Path, *, card: str | Path | None = None, api_key: str | None = None,
                   output_mode: OutputMode | None = None, device: str = "cpu", batch_size: int = 16,
                   timeout: float = 30.0) -> Victim:
    """Resolve ``spec`` (see the module docstring) to a :class:`Victim`; raises :class:`VictimSpecError`.

    Args:
        card: an input-contract card (YAML/JSON) for an outside model or an endpoint whose metadata lacks the
            class names or clip geometry; for a file, the card beside it is used when this is None.
        api_key: for remote victims; default ``$VIDSTEAL_API_KEY``.
        output_mode: what each answer reveals (None: full probabilities, or what the server reveals).
        device: where an in-process victim runs.
        batch_size: clips per request (remote) or per forward pass (in-process).
        timeout: seconds per request to a remote victim.
    """
    spec = str(spec)
    if spec.startswith("oip+"):
        return _oip(spec, card, api_key, output_mode, batch_size, timeout)
    if spec.startswith(("http://", "https://")):
        return _http(spec, card, api_key, output_mode, batch_size, timeout)
    model, kind = _load_local(spec, card, device)
    oracle = LocalOracle(model, output_mode, batch_size=max(batch_size, 64), device=device)
    return Victim(spec, kind, oracle, model.card, model)  # type: ignore[arg-type]


def _load_local(spec: str, card: str | Path | None, device: str) -> tuple[nn.Module, Kind]:
    if is_import_string(spec):
        return _external(spec, card, device), "factory"
    path = Path(spec)
    if "://" in spec:
        raise VictimSpecError(f"victim URL {spec} has an unknown scheme; expected {EXPECTED}")
    if not path.exists():
        raise VictimSpecError(f"victim file {spec} does not exist; expected {EXPECTED}")
    if path.is_dir():
        raise VictimSpecError(f"victim {spec} is a folder; expected {EXPECTED}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            model = load_model(path, map_location=device)
        except (ValueError, RuntimeError, OSError) as err:
            raise VictimSpecError(f"victim {spec} is not a vidsteal model file: {_first_line(err)}") from err
        if card is not None:
            _check_classes(spec, model.card.num_classes, _read_card(card))
        return model, "safetensors"
    if suffix in EXPORT_SUFFIXES + TORCHSCRIPT_SUFFIXES:
        return _external(spec, card, device), "export" if suffix in EXPORT_SUFFIXES else "torchscript"
    raise VictimSpecError(f"cannot tell what victim {spec} is from its suffix {suffix or '(none)'!r}; "
                          f"expected {EXPECTED}")


def _external(spec: str, card: str | Path | None, device: str) -> nn.Module:
    try:
        return load_external(spec, card, device)
    except ContractError as err:
        raise VictimSpecError(str(err)) from err
    except Exception as err:  # noqa: BLE001 - a user's factory or archive can fail in any way
        raise VictimSpecError(f"cannot load victim {spec}: {type(err).__name__}: {_first_line(err)}") from err


def _read_card(card: str | Path) -> InputContract:
    try:
        return InputContract.from_file(card)
    except ContractError as err:
        raise VictimSpecError(str(err)) from err


def _check_classes(spec: str, answered: int, contract: InputContract) -> None:
    if contract.num_outputs != answered:
        raise VictimSpecError(f"the card declares {contract.num_outputs} classes but victim {spec} answers with "
                              f"{answered}; give the card of this model")


def _reachable(url: str, path: str, timeout: float) -> None:
    """One quick request, so a wrong address fails in a second with one line instead of after every retry."""
    try:
        httpx.get(url + path, timeout=min(timeout, 10.0))
    except httpx.ConnectError as err:
        raise VictimSpecError(f"cannot connect to victim {url} ({_first_line(err) or 'connection refused'}); "
                              "is the server running and the address right?") from err
    except httpx.HTTPError as err:
        raise VictimSpecError(f"victim {url} does not answer: {type(err).__name__}: {_first_line(err)}") from err


def _http(spec: str, card: str | Path | None, api_key: str | None, output_mode: OutputMode | None,
          batch_size: int, timeout: float) -> Victim:
    url = spec.rstrip("/")
    _reachable(url, "/v1/health", timeout)
    try:
        oracle = HttpOracle(url, api_key or os.environ.get(API_KEY_ENV), output_mode, batch_size=batch_size,
                            timeout=timeout, retries=2, wire_dtype="uint8")
    except OracleError as err:
        raise VictimSpecError(f"{_first_line(err)} (a vidsteal server, /v1; for other servers use "
                              "oip+http://host:port/v2/models/NAME)") from err
    info = oracle.server_info
    found = ModelCard(arch="remote", num_classes=oracle.num_classes, kwargs={"source": spec},
                      frames=info.get("frames"), size=info.get("size"), categories=info.get("categories"))
    return Victim(spec, "http", oracle, _with_card(spec, found, card, close=oracle.close))


def _oip(spec: str, card: str | Path | None, api_key: str | None, output_mode: OutputMode | None,
         batch_size: int, timeout: float) -> Victim:
    match = _OIP.match(spec)
    if match is None:
        raise VictimSpecError(f"OIP victim {spec} is not of the form oip+http://host:port/v2/models/NAME"
                              "[/versions/V]")
    url, name, version = match.groups()
    _reachable(url, "/v2/health/ready", timeout)
    contract = None if card is None else _read_card(card)
    try:
        oracle = OipOracle(url, name, api_key or os.environ.get(API_KEY_ENV), output_mode, model_version=version,
                           batch_size=batch_size, timeout=timeout, retries=2,
                           num_classes=None if contract is None else contract.num_outputs)
    except OracleError as err:
        raise VictimSpecError(_first_line(err)) from err
    params = oracle.metadata.get("parameters") or {}
    shape = (oracle.metadata.get("inputs") or [{}])[0].get("shape") or []
    frames = int(shape[2]) if len(shape) == 5 and int(shape[2]) > 0 else params.get("frames")
    size = int(shape[3]) if len(shape) == 5 and int(shape[3]) > 0 and shape[3] == shape[4] else params.get("size")
    found = ModelCard(arch="remote", num_classes=oracle.num_classes, kwargs={"source": spec}, frames=frames,
                      size=size, categories=params.get("classes"))
    return Victim(spec, "oip", oracle, _with_card(spec, found, contract, close=oracle.close))


def _with_card(spec: str, found: ModelCard, card: str | Path | InputContract | None, close) -> ModelCard:
    """The endpoint's own description, completed (never contradicted) by a user's card."""
    try:
        if card is not None:
            contract = card if isinstance(card, InputContract) else _read_card(card)
            _check_classes(spec, found.num_classes, contract)
            if contract.classes and found.categories and contract.classes != found.categories:
                raise VictimSpecError(f"the card's class names differ from those victim {spec} announces")
            square = contract.size[0] if contract.size[0] == contract.size[1] else None
            found = found.model_copy(update={"categories": found.categories or contract.classes,
                                             "frames": found.frames or contract.frames,
                                             "size": found.size or square})
        if found.categories is not None and len(found.categories) != found.num_classes:
            raise VictimSpecError(f"victim {spec} announces {len(found.categories)} class names for "
                                  f"{found.num_classes} outputs")
        if found.frames is None or found.size is None:
            raise VictimSpecError(f"victim {spec} does not say which clips it takes (frames, size); give a card "
                                  "with frames and size (--card)")
    except VictimSpecError:
        close()
        raise
    return found


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
