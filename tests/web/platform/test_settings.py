"""Settings: defaults, TOML file, environment overrides, clear errors, documentation."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from web.cli.config_template import render_toml
from web.errors import ConfigError
from web.platform.settings import SETTINGS, load_settings


def test_defaults_work_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings["storage.path"] == "./var/lantern.db"
    assert settings["server.port"] == 8080
    assert settings.sources == []


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "lantern.toml"
    config.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n[[sources]]\nname = "a"\nkind = "rss"\n',
                      encoding="utf-8")
    settings = load_settings(config, env={"LANTERN_SERVER_PORT": "9100", "LANTERN_MONITOR_ENABLED": "false"})
    assert settings["server.port"] == 9100
    assert settings["server.host"] == "0.0.0.0"
    assert settings["monitor.enabled"] is False
    assert settings.sources == [{"name": "a", "kind": "rss"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = 'eighty'\n", "server.port must be a int"),
        ("[server]\nprot = 1\n", "unknown setting server.prot"),
        ("[server\n", "not valid TOML"),
        ("sources = 3\n", "must be a list of tables"),
        ("[console]\nlive_heartbeat_s = 0\n", "console.live_heartbeat_s: must be more than 0"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "lantern.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env={})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LANTERN_SERVER_PORT"):
        load_settings(env={"LANTERN_SERVER_PORT": "abc"})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_every_setting_is_documented() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names)), "a setting is declared twice"
    for setting in SETTINGS:
        assert setting.help.strip().endswith("."), f"{setting.name} needs a help sentence"
        assert "." in setting.name


def test_rendered_toml_documents_every_setting_and_parses(tmp_path: Path) -> None:
    text = render_toml()
    for setting in SETTINGS:
        assert f"# {setting.key} = " in text
        assert setting.help in text
    # Uncommenting every default yields a valid file with the same values (the tables' examples follow
    # the settings and are checked in test_cli_check).
    setting_line = re.compile(r"^# ([a-z_]+ = .*)$")
    scalars = text.split("\n## =====", 1)[0]
    uncommented = "\n".join(
        setting_line.sub(r"\1", line) for line in scalars.splitlines()
    )
    data = tomllib.loads(uncommented)
    config = tmp_path / "lantern.toml"
    config.write_text(uncommented, encoding="utf-8")
    settings = load_settings(config, env={})
    for setting in SETTINGS:
        assert settings[setting.name] == setting.default
    assert "server" in data


def test_redis_section_holds_url_and_prefix(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings["redis.url"] == "" and settings["redis.prefix"] == "lantern:ticker" and settings.warnings == ()
    config = tmp_path / "lantern.toml"
    config.write_text('[redis]\nurl = "redis://10.0.0.5:6379/2"\nprefix = "lantern:prod"\n', encoding="utf-8")
    settings = load_settings(config, env={"LANTERN_REDIS_PREFIX": "lantern:blue"})
    assert settings["redis.url"] == "redis://10.0.0.5:6379/2" and settings["redis.prefix"] == "lantern:blue"
    assert settings.warnings == ()
    text = render_toml()
    assert '\n[redis]\n' in text and '# url = ""' in text and '# prefix = "lantern:ticker"' in text


def test_old_broadcast_redis_names_still_work_with_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "lantern.toml"
    config.write_text('[broadcast]\nredis_url = "redis://old:6379/0"\nredis_prefix = "lantern:old"\n'
                      'withdrawn_s = 60\n', encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings["redis.url"] == "redis://old:6379/0" and settings["redis.prefix"] == "lantern:old"
    assert settings["broadcast.withdrawn_s"] == 60  # the rest of [broadcast] as before
    assert [w.split(": ", 1)[1] for w in settings.warnings] == [
        "broadcast.redis_url 已改名为 redis.url，旧名称暂时仍可用，请改用新名称 "
        "(broadcast.redis_url is now redis.url; the old name still works for now, please use the new one)",
        "broadcast.redis_prefix 已改名为 redis.prefix，旧名称暂时仍可用，请改用新名称 "
        "(broadcast.redis_prefix is now redis.prefix; the old name still works for now, please use the new one)"]
    assert all(w.startswith(f"{config}: ") for w in settings.warnings)
    with pytest.raises(KeyError):
        settings["broadcast.redis_url"]  # read under the new name only
    # The environment's old name too; the new names win where both are given, and the old one is called ignored.
    settings = load_settings(env={"LANTERN_BROADCAST_REDIS_URL": "redis://env-old/0"})
    assert settings["redis.url"] == "redis://env-old/0" and "LANTERN_REDIS_URL" in settings.warnings[0]
    both = {"LANTERN_BROADCAST_REDIS_URL": "redis://env-old/0", "LANTERN_REDIS_URL": "redis://n/0"}
    settings = load_settings(env=both)
    assert settings["redis.url"] == "redis://n/0" and "被忽略" in settings.warnings[0]
    assert "LANTERN_BROADCAST_REDIS_URL is now LANTERN_REDIS_URL; both are set" in settings.warnings[0]
    config.write_text('[redis]\nurl = "redis://new/0"\n[broadcast]\nredis_url = "redis://old/0"\n', encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings["redis.url"] == "redis://new/0" and len(settings.warnings) == 1
    assert "both are set, so broadcast.redis_url is ignored" in settings.warnings[0]
    # Overrides (what tests and commands use) accept the old name as well, and say so.
    settings = load_settings(env={}).with_overrides(broadcast__redis_prefix="p")
    assert settings["redis.prefix"] == "p" and settings.warnings[0].startswith("override: broadcast.redis_prefix")
    assert settings.with_overrides(server__port=1).warnings == settings.warnings  # kept through copies
    config.write_text("[broadcast]\nredis_url = 6379\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"redis\.url must be a str"):
        load_settings(config, env={})
