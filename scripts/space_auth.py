"""Which token a deploy uses: HF_TOKEN when set, else a short-lived one from Trusted Publishers.

Trusted Publishers (https://huggingface.co/docs/hub/trusted-publishers): in GitHub Actions, a job
with `permissions: id-token: write` gets ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN. With
HF_OIDC_RESOURCE=spaces/<owner>/<name>, huggingface_hub's get_token() asks that URL for an OIDC
id token (audience: the Hub endpoint) and exchanges it at POST {HF_ENDPOINT}/oauth/token for a
token that can write to that one Space for an hour. No token is ever printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Environment values that must never appear in output (besides the token itself).
SECRET_ENV = ("HF_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "HF_OIDC_ID_TOKEN")


class AuthError(Exception):
    """No usable credentials, with a message safe to print and the exit code it means."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Credentials:
    """A token and where it came from."""

    token: str | None
    source: str  # "HF_TOKEN", "oidc" or "none"
    resource: str | None = None

    @property
    def oidc(self) -> bool:
        """True when the token is a Trusted Publishers token scoped to one Space."""
        return self.source == "oidc"

    def describe(self) -> str:
        """What --dry-run says about the token (never its value)."""
        if self.source == "HF_TOKEN":
            return "HF_TOKEN is set (never printed)"
        if self.source == "oidc":
            return (
                f"HF_TOKEN is not set: Trusted Publishers, a short-lived token for {self.resource} "
                "exchanged at deploy time (never printed)"
            )
        return "HF_TOKEN is not set, nor HF_OIDC_RESOURCE"


def secrets_to_mask(*extra: str | None) -> list[str]:
    """Every secret value this process knows of, for `mask`."""
    values = [os.environ.get(name) for name in SECRET_ENV] + list(extra)
    return [v for v in values if v]


def mask(text: str, *tokens: str | None) -> str:
    """`text` with every token replaced, for any message that might echo one."""
    for token in sorted({t for t in tokens if t}, key=len, reverse=True):
        text = text.replace(token, "hf_***")
    return text


def oidc_resource(repo_id: str) -> str:
    """The Trusted Publishers resource of a Space repo: spaces/<owner>/<name>."""
    return f"spaces/{repo_id}"


def credentials(repo_id: str | None, exchange: bool) -> Credentials:
    """HF_TOKEN if set; else, with HF_OIDC_RESOURCE, a Trusted Publishers token (exchanged only
    when `exchange`); else none. A resource naming another Space is refused (AuthError)."""
    token = os.environ.get("HF_TOKEN") or None
    if token:
        return Credentials(token, "HF_TOKEN")
    resource = os.environ.get("HF_OIDC_RESOURCE") or None
    if resource is None:
        return Credentials(None, "none")
    if repo_id is not None and resource != oidc_resource(repo_id):
        raise AuthError(
            f"HF_OIDC_RESOURCE is {resource!r}, but this writes {oidc_resource(repo_id)!r}: "
            "a Trusted Publishers token only works for the Space it names"
        )
    if not exchange:
        return Credentials(None, "oidc", resource)
    from huggingface_hub import get_token

    try:
        exchanged = get_token()  # huggingface_hub's own OIDC exchange (utils/_auth.py)
    except Exception as exc:
        detail = mask(f"{type(exc).__name__}: {exc}", *secrets_to_mask())
        raise AuthError(f"the Trusted Publishers token exchange failed: {detail}", 1) from None
    if not exchanged:
        raise AuthError("the Trusted Publishers token exchange gave no token", 1)
    return Credentials(exchanged, "oidc", resource)
