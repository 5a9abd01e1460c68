"""Structured logs: JSON lines with fields, text format, and secrets masked in both."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from web.errors import ConfigError
from web.platform.logging_setup import redact, setup_logging
from web.platform.settings import load_settings


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_json_lines_with_extra_fields(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging(load_settings(env={}).with_overrides(server__log_format="json"), stream=stream)
    logging.getLogger("lantern.test").info("source %s failed", "weibo", extra={"source": "weibo", "attempt": 2})
    try:
        raise RuntimeError("boom token=abc123secret")
    except RuntimeError:
        logging.getLogger("lantern.test").exception("crashed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "source weibo failed" and first["level"] == "INFO"
    assert first["logger"] == "lantern.test" and first["source"] == "weibo" and first["attempt"] == 2
    assert first["ts"].endswith("+00:00")
    assert "RuntimeError" in second["exc"] and "abc123secret" not in second["exc"]


def test_secrets_are_masked(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging(load_settings(env={}).with_overrides(server__log_format="text"), stream=stream)
    log = logging.getLogger("lantern.test")
    log.warning("POST https://oapi.dingtalk.com/robot/send?access_token=SEKRIT1&timestamp=1&sign=SEKRIT2 failed")
    log.warning("wecom https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SEKRIT3")
    log.warning("client sent Authorization: Bearer lt_SEKRIT4abcdefgh")
    log.warning("smtp login %s", {"user": "bot", "password": "SEKRIT5"})
    log.warning("cookie lantern_session=SEKRIT6; other=1", extra={"detail": "token=SEKRIT7"})
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET /ws/ticker?token=lt_SEKRIT8xyzxyzxyz HTTP/1.1" 101')
    output = stream.getvalue()
    for n in range(1, 9):
        assert f"SEKRIT{n}" not in output, output
    assert output.count("***") >= 6
    assert "oapi.dingtalk.com/robot/send" in output  # the useful part stays


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "舆情事件 #12 升级为 P1，已通知 3 人"
    assert redact(text) == text


def test_unknown_format_is_a_config_error(root_logger: logging.Logger) -> None:
    with pytest.raises(ConfigError):
        setup_logging(load_settings(env={}).with_overrides(server__log_format="xml"))
