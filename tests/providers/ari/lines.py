"""The example line on an Asterisk: the example configuration with a ``[provider.ari]``,
as a model or as a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callflow.config.models import AriConfig, HotlineConfig, ProviderConfig
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.ari_server import APP, USERNAME


def ari_section(**changes: Any) -> AriConfig:
    fields: dict[str, Any] = {
        "url": "http://127.0.0.1:8088",
        "username": USERNAME,
        "app": APP,
        "trunk": "PJSIP/{number}@trunk",
        **changes,
    }
    return AriConfig(**fields)


def with_ari(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    return config.model_copy(update={"provider": ProviderConfig(ari=ari_section(**changes))})


def with_connect(config: HotlineConfig, **changes: Any) -> HotlineConfig:
    """*config* with *changes* to its ``[connect]`` section."""
    return config.model_copy(update={"connect": config.connect.model_copy(update=changes)})


def ari_line_file(folder: Path, url: str = "http://127.0.0.1:8088") -> Path:
    """The example configuration file with a ``[provider.ari]`` for Asterisk at *url*."""
    section = (
        f'\n[provider.ari]\nurl = "{url}"\nusername = "{USERNAME}"\napp = "{APP}"\n'
        'trunk = "PJSIP/{number}@trunk"\n'
    )
    path = folder / "hotline.toml"
    path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8") + section, encoding="utf-8")
    return path
