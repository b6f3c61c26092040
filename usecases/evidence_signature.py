"""Detached signatures of evidence packs, checked offline (no database).

Beside `pack.pdf` lies `pack.pdf.sig`, a JSON object: the format, the organisation, the
file's SHA-256 (hex), the signing key's id and the Ed25519 signature (base64) over
`auditlens-evidence-1\\n{organisation}\\n{sha256}\\n`. Verification recomputes the SHA-256 of
the file, so one changed byte fails it, then checks the signature under a trusted public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from integrity.keys import PublicKeys, SigningKey
from sql.errors import AuditLensError

FORMAT = "auditlens-evidence-1"
SUFFIX = ".sig"
_HEX_KEY_ID = re.compile(r"[0-9a-f]{1,64}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class EvidenceSignatureError(AuditLensError):
    """A signature file that cannot be read as one."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    organization_id: str = ""
    sha256: str = ""
    key_id: str = ""


def _message(org: str, sha256: str) -> bytes:
    return f"{FORMAT}\n{org}\n{sha256}\n".encode()


def signature_path(document: Path) -> Path:
    return document.with_name(document.name + SUFFIX)


def sign(document: bytes, org: str, key: SigningKey) -> str:
    """The signature file's text for `document` of organisation `org`."""
    digest = hashlib.sha256(document).hexdigest()
    return (
        json.dumps(
            {
                "format": FORMAT,
                "organization_id": org,
                "sha256": digest,
                "key_id": key.key_id,
                "signature": base64.b64encode(key.sign(_message(org, digest))).decode(),
            },
            indent=2,
        )
        + "\n"
    )


def verify(document: bytes, signature_text: str, keys: PublicKeys) -> Verdict:
    """Whether `signature_text` signs exactly `document` under one of `keys`."""
    try:
        sig = json.loads(signature_text)
        if not isinstance(sig, dict) or sig.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        org, claimed, kid = sig["organization_id"], sig["sha256"], sig["key_id"]
        if not all(isinstance(v, str) for v in (org, claimed, kid)):
            raise ValueError("organization_id, sha256 and key_id must be text")
        # Whoever hands over a pack writes its .sig; these are printed, so they must be
        # what they claim to be (hex), never text that could draw a line of its own.
        if not _HEX_KEY_ID.fullmatch(kid) or not _HEX_SHA256.fullmatch(claimed):
            raise ValueError("sha256 and key_id must be lower-case hex")
        raw = base64.b64decode(sig["signature"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise EvidenceSignatureError(f"signature file: not an evidence signature: {exc}") from None
    actual = hashlib.sha256(document).hexdigest()
    if actual != claimed:
        return Verdict(False, f"SHA-256 {actual} differs from the signed {claimed}", org, actual)
    problem = keys.verify(kid, raw, _message(org, actual))
    if problem is not None:
        return Verdict(False, problem, org, actual, kid)
    return Verdict(True, f"signed by key {kid} for {org}", org, actual, kid)
