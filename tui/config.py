"""User settings: a TOML file in the user's config dir, overridden by FLOWLOGS_* environment variables,
overridden by command-line flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import platformdirs
from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aws import limits

if TYPE_CHECKING:
    from aws.session import AwsSession

APP_NAME = "flowlogs-tui"
# Set (to the sandbox's endpoint URL) by `Sandbox.export_env`: this process is a demo run.
DEMO_ENV = "FLOWLOGS_DEMO_ENDPOINT"


def demo_endpoint() -> str | None:
    return os.environ.get(DEMO_ENV) or None


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


class Settings(BaseSettings):
    """Everything a user can set once instead of passing flags every time."""

    model_config = SettingsConfigDict(env_prefix="FLOWLOGS_", extra="ignore")

    profile: str | None = Field(default=None, description="Default AWS profile")
    region: str | None = Field(default=None, description="Home region")
    read_only: bool = Field(default=False, description="Refuse every mutating AWS call")
    skip_regions: list[str] = Field(default_factory=list, description="Regions never scanned")
    include_regions: list[str] = Field(default_factory=list, description="Only scan these regions")
    scan_workers: int = Field(default=12, ge=1, le=64, description="Concurrent region scans")
    theme: str = Field(
        default="flowlogs-dark",
        description="Textual theme (flowlogs-dark; ansi-dark / ansi-light use the terminal's own colours)",
    )
    resume_max_age_hours: float = Field(
        default=24,
        gt=0,
        le=24 * 365,
        description="A saved inventory older than this is rescanned before the wizard resumes",
    )
    keymap: dict[str, str] = Field(
        default_factory=dict, description="Binding id -> keys, e.g. {'app.rescan': 'f5'}"
    )
    audit_log: Path | None = Field(default=None, description="Audit log path (default: state dir)")
    # Talking to AWS (aws/retry.py): FLOWLOGS_CONNECT_TIMEOUT, FLOWLOGS_READ_TIMEOUT, ... The defaults are
    # RetryPolicy's, from aws.limits (which, unlike aws.retry, imports no botocore).
    connect_timeout: float = Field(
        default=limits.CONNECT_TIMEOUT, gt=0, le=300, description="Seconds to connect to an AWS endpoint"
    )
    read_timeout: float = Field(
        default=limits.READ_TIMEOUT, gt=0, le=600, description="Seconds to wait for AWS to answer a request"
    )
    call_deadline: float = Field(
        default=limits.CALL_DEADLINE,
        gt=0,
        le=3600,
        description="Seconds one AWS call may take, retries included",
    )
    max_attempts: int = Field(
        default=limits.MAX_ATTEMPTS,
        ge=1,
        le=20,
        description="Attempts per AWS call (failures but throttling)",
    )
    throttle_attempts: int = Field(
        default=limits.THROTTLE_ATTEMPTS, ge=1, le=50, description="Attempts per AWS call when AWS throttles"
    )
    retry_seed: int | None = Field(default=None, description="Seed of the retry backoff jitter (tests)")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()))

    @property
    def audit_path(self) -> Path:
        """The audit log. A demo run (the sandbox) never writes to the real one: it uses FLOWLOGS_AUDIT_LOG
        when that is set, else `demo-audit.jsonl` beside the configured log or in the state dir."""
        if demo_endpoint() is None:
            return self.audit_log or state_dir() / "audit.jsonl"
        if os.environ.get("FLOWLOGS_AUDIT_LOG"):
            return Path(os.environ["FLOWLOGS_AUDIT_LOG"])
        return (self.audit_log.parent if self.audit_log else state_dir()) / "demo-audit.jsonl"


def _toml_path() -> Path:
    return Path(os.environ.get("FLOWLOGS_CONFIG", str(config_file())))


def settings_file() -> Path:
    """The settings file in use ($FLOWLOGS_CONFIG or the default path)."""
    return _toml_path()


def load_settings(**overrides: Any) -> Settings:
    """Settings from file and environment, with non-None overrides (command-line flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


class SessionFactory(Protocol):
    """Makes the AWS session for settings (`tui.factory.make_session`); injected into the app and the CLI,
    so tests hand in a session on moto instead of patching a module."""

    def __call__(self, settings: Settings, *, endpoint_url: str | None = None) -> AwsSession: ...
