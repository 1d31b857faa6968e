"""Opaque global ids: `base64url("<Type>:<uuid>")`. Clients never build or parse them."""

from __future__ import annotations

import base64
import binascii
import uuid

from app.errors import BadUserInput


def encode_id(type_name: str, value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode().rstrip("=")


def decode_id(type_name: str, value: str) -> uuid.UUID:
    """The uuid inside a global id of `type_name`; BAD_USER_INPUT for anything else."""
    try:
        padded = value + "=" * (-len(value) % 4)
        kind, _, raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition(":")
        if kind == type_name:
            return uuid.UUID(raw)
    except (ValueError, UnicodeError, binascii.Error):
        pass
    raise BadUserInput(f"Not a valid {type_name} id")
