"""The service's settings: one object, its errors named, and the service built from it in this process."""

from __future__ import annotations

import asyncio

import pytest

from deephash.errors import ConfigurationError
from deephash.hasher import EmbeddedHasher
from serving.settings import ServiceSettings, service_settings


def test_a_bad_value_is_a_configuration_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DEEPHASH_MAX_UPLOAD_MB", "-1")
    monkeypatch.setenv("DEEPHASH_THREADS", "many")
    with pytest.raises(ConfigurationError) as error:
        service_settings.__wrapped__()  # uncached: the settings of a process starting now
    assert "DEEPHASH_MAX_UPLOAD_MB: Input should be greater than 0" in str(error.value)
    assert "DEEPHASH_THREADS: " in str(error.value)
    assert error.value.exit_code == 2


def test_serving_without_tokens_is_refused_unless_open():
    with pytest.raises(ConfigurationError, match="DEEPHASH_TOKENS_FILE"):
        ServiceSettings(auth="tokens", tokens_file=None).check_access_control()
    ServiceSettings(auth="open").check_access_control()


def test_the_service_is_built_in_this_process_from_a_settings_object(small_model, clips, tmp_path):
    from serving.service import DeepHashService

    settings = ServiceSettings(model=small_model, data=tmp_path / "data", auth="open", threads=1)
    service = DeepHashService.inner(settings, None, in_process=True)
    hashed = asyncio.run(service.hash(None, clips["bikes"]))
    assert hashed.code == EmbeddedHasher(small_model).hash_video(clips["bikes"]).code_hex
    assert asyncio.run(service.stats(None))["video"]["rows"] == 0
    found = asyncio.run(service.search_code(None, hashed.code, hashed.l1.id, hashed.l2.id))
    assert found == []
    service.catalog.close()
