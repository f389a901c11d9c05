"""API keys: stored only as sha256 hashes, each with its own budget and rate limit.

``keys.yaml`` format (unknown fields are errors)::

    keys:
      - name: alice            # shown in logs and log file names; never the key itself ([A-Za-z0-9_.-]+)
        sha256: 3a6e...        # hex sha256 of the raw key: vidsteal.serve.auth.hash_key("vs_...")
        budget: 10000          # clips this key may have answered in total; omit for the server default
        rate: 20               # sustained requests per second; omit for the server default
        burst: 40              # token-bucket size (requests allowed back to back)

Clients send the raw key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Plain sha256 is enough
because keys are random 256-bit tokens (:func:`new_key`), not passwords: there is nothing to brute-force, and
a leaked ``keys.yaml`` reveals no usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from vidsteal.config import BaseConfig, ConfigError

ANONYMOUS = "anonymous"


def hash_key(raw: str) -> str:
    """Hex sha256 of a raw API key: the only form in which keys are stored."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_key(prefix: str = "vs_") -> str:
    """A fresh random API key (256 bits); give it to the client, store only :func:`hash_key` of it."""
    return prefix + secrets.token_urlsafe(32)


class KeyRecord(BaseConfig):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="label for logs; not secret")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hash_key(raw key), lowercase hex")
    budget: int | None = Field(None, ge=0, description="total clips this key may have answered")
    rate: float | None = Field(None, gt=0, description="sustained requests per second")
    burst: int | None = Field(None, ge=1, description="requests allowed back to back")

    @field_validator("sha256", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class KeysFile(BaseConfig):
    keys: list[KeyRecord] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "KeysFile":
        for attr in ("name", "sha256"):
            seen: set[str] = set()
            for record in self.keys:
                value = getattr(record, attr)
                if value in seen:
                    raise ValueError(f"duplicate key {attr} {value[:12]!r}")
                seen.add(value)
        return self


def key_entry(name: str, raw: str, budget: int | None = None, rate: float | None = None,
              burst: int | None = None) -> dict:
    """The ``keys.yaml`` entry for a raw key (what an operator pastes in after :func:`new_key`)."""
    entry = {"name": name, "sha256": hash_key(raw), "budget": budget, "rate": rate, "burst": burst}
    return {k: v for k, v in entry.items() if v is not None}


def load_keys(path: str | Path) -> KeysFile:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return KeysFile.model_validate(data)
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read keys file {path}: {err}") from err
    except ValidationError as err:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ConfigError(f"invalid keys file {path}:\n" + "\n".join(lines)) from None


class AuthError(Exception):
    """Missing (401) or unknown (403) key; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class KeyStore:
    """Looks raw keys up by hash. ``None`` records means an open server: every caller is :data:`ANONYMOUS`."""

    def __init__(self, records: list[KeyRecord] | None) -> None:
        self.open = records is None
        self._by_hash = {r.sha256: r for r in records or []}
        self.records = list(records) if records is not None else [KeyRecord(name=ANONYMOUS, sha256="0" * 64)]

    @classmethod
    def from_path(cls, path: str | Path | None) -> "KeyStore":
        return cls(None if path is None else load_keys(path).keys)

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> KeyRecord:
        if self.open:
            return self.records[0]
        raw = x_api_key
        if raw is None and authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError(401, "Authorization header must be 'Bearer <api key>'")
            raw = token.strip()
        if not raw:
            raise AuthError(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        digest = hash_key(raw)
        record = self._by_hash.get(digest)
        # The dict lookup already found it; compare_digest keeps the final check constant-time anyway.
        if record is None or not hmac.compare_digest(record.sha256, digest):
            raise AuthError(403, "API key not recognised")
        return record
