"""A custom MLServer runtime serving a victim file over the Open Inference Protocol.

The victim is a vidsteal ``.safetensors``, or a TorchScript / ``.pt2`` file with its card beside it (see
:mod:`vidsteal.models.external`).

It lets us check :class:`vidsteal.victims.oip.OipOracle` against a KServe v2 server we did not write, and lets an
auditor put a vidsteal victim into an existing MLServer / Seldon / KServe deployment. Imported only inside
the MLServer venv (``scripts/mlserver_venv.sh``); vidsteal's own venv has no ``mlserver``.

``model-settings.json``::

    {"name": "victim", "implementation": "vidsteal.serve.mlserver_runtime.VidstealRuntime",
     "parameters": {"uri": "./victim.safetensors",                  # relative to this file's folder
                    "extra": {"defences": [{"kind": "noise", "scale": 0.05}],   # optional, as in ServeConfig
                              "torch_threads": 1}}}                   # optional

Run MLServer with ``"parallel_workers": 0`` in ``settings.json``: MLServer 1.7.1's worker processes crash on start
here (``RuntimeError: There is no current event loop``), whatever the runtime. With working parallel workers,
declare ``inputs``/``outputs`` in model-settings.json too: the metadata is then served by a process that never
runs :meth:`VidstealRuntime.load`, where we fill them in.

Input ``clips``: FP32 (or FP64 / UINT8 = value/255) ``[N, 3, T, H, W]`` in ``[0, 1]``; model metadata lists the
accepted datatypes in ``parameters.input_datatypes`` (UINT8 first: 8-bit clips are what a video API takes, and a
quarter of the bytes), with ``num_classes``, ``classes``, ``frames`` and ``size``. Outputs ``probabilities``
(FP32 ``[N, K]``, full softmax after any defences) and ``labels`` (INT64 ``[N, K]``, most likely first): the
victim's one answer path (:class:`vidsteal.victims.answer.AnswerPath`) in the output mode that reveals
everything. Output modes (top-k, labels, rounding) are applied by the client (:class:`OipOracle` uses the same
function as the vidsteal server), because OIP metadata here has no place to announce a truncation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse, MetadataModelResponse, MetadataTensor, Parameters
from mlserver.utils import get_model_uri
from pydantic import Field

from vidsteal.config import BaseConfig
from vidsteal.data.clips import ClipError, check_model_input
from vidsteal.models.external import load_victim_model
from vidsteal.victims.answer import AnswerPath, VictimInputError, VictimModel
from vidsteal.victims.defences import DefenceChain, DefenceConfig
from vidsteal.victims.outputs import OutputMode

INPUT, PROBS, LABELS = "clips", "probabilities", "labels"


class RuntimeExtra(BaseConfig):
    """``parameters.extra`` of the model settings; unknown keys are errors, as everywhere in vidsteal."""

    defences: list[DefenceConfig] = Field(default_factory=list, description="applied in order to full probs")
    torch_threads: int | None = Field(None, ge=1, description="torch.set_num_threads in the worker")


class VidstealRuntime(MLModel):
    """Loads the victim named by ``parameters.uri`` and answers with probabilities and ranked labels."""

    async def load(self) -> bool:
        extra = self.settings.parameters.extra if self.settings.parameters else None
        self.extra = RuntimeExtra.model_validate(extra or {})
        if self.extra.torch_threads is not None:
            torch.set_num_threads(self.extra.torch_threads)
        model = load_victim_model(await get_model_uri(self.settings))
        self.card = card = model.card
        self.num_classes = card.num_classes
        defences = DefenceChain.from_configs(self.extra.defences)
        self.path = AnswerPath(VictimModel(model, self.num_classes).probs, defences)
        self.mode = OutputMode(k=self.num_classes)  # full probabilities, every label ranked
        t, s = card.frames or -1, card.size or -1
        # Filled in here so model metadata tells any OIP client the input name and the class count.
        self.inputs = [MetadataTensor(name=INPUT, datatype="FP32", shape=[-1, 3, t, s, s])]
        self.outputs = [MetadataTensor(name=PROBS, datatype="FP32", shape=[-1, self.num_classes]),
                        MetadataTensor(name=LABELS, datatype="INT64", shape=[-1, self.num_classes])]
        return True

    async def metadata(self) -> MetadataModelResponse:
        meta = await super().metadata()
        card = self.card
        meta.parameters = Parameters(**(meta.parameters.model_dump() if meta.parameters else {}),
                                     input_datatypes=["UINT8", "FP32", "FP64"], num_classes=self.num_classes,
                                     classes=card.categories, frames=card.frames, size=card.size)
        return meta

    def _clips(self, payload: InferenceRequest) -> torch.Tensor:
        if len(payload.inputs) != 1 or payload.inputs[0].name != INPUT:
            raise InferenceError(f"expected exactly one input named {INPUT!r}, got "
                                 f"{[i.name for i in payload.inputs]}")
        tensor = payload.inputs[0]
        datatype = str(getattr(tensor.datatype, "value", tensor.datatype))  # an enum or its value, by version
        if datatype not in ("FP32", "FP64", "UINT8"):
            raise InferenceError(f"input datatype {datatype} not supported; send FP32")
        try:
            array = np.asarray(NumpyCodec.decode_input(tensor))
        except Exception as err:  # codec errors come in many types; any of them is a malformed request
            raise InferenceError(f"cannot decode input {INPUT!r}: {err}") from None
        clips = torch.from_numpy(array.astype(np.float32))
        if datatype == "UINT8":
            clips = clips / 255.0
        try:
            check_model_input(clips)
        except ClipError as err:
            raise InferenceError(f"invalid clips: {err}") from None
        return clips

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        clips = self._clips(payload)
        try:
            answers = self.path(clips, "mlserver", self.mode)
        except VictimInputError as err:
            raise InferenceError(str(err)) from None
        assert answers.probs is not None
        outputs: list[Any] = [NumpyCodec.encode_output(PROBS, answers.probs.numpy().astype(np.float32)),
                              NumpyCodec.encode_output(LABELS, answers.labels.numpy().astype(np.int64))]
        return InferenceResponse(model_name=self.name, model_version=self.version, id=payload.id, outputs=outputs)
