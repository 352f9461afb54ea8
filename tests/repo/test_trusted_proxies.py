"""On a Space, the Hub's proxy is the peer of every request: each Space trusts one proxy there
(Hugging Face sets SPACE_ID in a Space), so that rate limits are per visitor, not one budget for
all; elsewhere it trusts none, since anyone can write X-Forwarded-For."""

from __future__ import annotations

import pytest

from iris_app.settings import Settings as IrisSettings
from rag_app.settings import Settings as RagSettings
from sentiment_app.settings import Settings as SentimentSettings

SETTINGS = {"IRIS_": IrisSettings, "SENTIMENT_": SentimentSettings, "RAG_": RagSettings}


@pytest.mark.parametrize("prefix", SETTINGS)
def test_one_trusted_proxy_on_a_space_none_elsewhere(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SETTINGS[prefix]
    monkeypatch.delenv(f"{prefix}TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert settings().trusted_proxies == 0
    monkeypatch.setenv("SPACE_ID", "someone/a-space")
    assert settings().trusted_proxies == 1
    monkeypatch.setenv(f"{prefix}TRUSTED_PROXIES", "0")  # a Space variable still decides
    assert settings().trusted_proxies == 0
