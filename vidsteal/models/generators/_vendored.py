"""Load one module file of an installed third-party package without running the package's ``__init__``.

Both offline priors need this: ``omniart_eye_generator/__init__`` loads its weights onto CUDA at import time
(fails on a CPU machine), and ``pytorch_pretrained_biggan/__init__`` imports boto3/requests for downloads we
never do. We read only the files that define the networks, from the installed package, and load weights
ourselves with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path


class PriorNotInstalled(ImportError):
    """The package that ships a generator's code and weights is not installed."""


def package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the folder; does not execute __init__
    if spec is None or not spec.submodule_search_locations:
        raise PriorNotInstalled(f"package {package!r} is not installed; {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def load_module_file(path: Path, name: str, package: types.ModuleType | None = None) -> types.ModuleType:
    """Execute ``path`` as module ``name`` (inside ``package`` when it uses relative imports); cached."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PriorNotInstalled(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    if package is not None:
        module.__package__ = package.__name__
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def stub_package(name: str, path: Path) -> types.ModuleType:
    """An empty package object named ``name`` rooted at ``path``, so relative imports inside it resolve."""
    if name in sys.modules:
        return sys.modules[name]
    pkg = types.ModuleType(name)
    pkg.__path__ = [str(path)]  # type: ignore[attr-defined]
    sys.modules[name] = pkg
    return pkg
