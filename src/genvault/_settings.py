"""Settings: read once from the environment and `.env`, into one typed object.

With nothing set, genvault runs on the embedded default: a PostgreSQL it starts
itself under the data directory, local file storage and the offline model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from genvault._exceptions import ConfigError

__all__ = ["DEFAULT_MODEL", "Settings"]

DEFAULT_MODEL = "black-forest-labs/flux-schnell"
OFFLINE_MODEL = "genvault/offline"

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MODEL_REF = re.compile(r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*(:[0-9a-f]{16,64})?$")


def _default_home() -> Path:
    from platformdirs import user_data_path

    return user_data_path("genvault", appauthor=False)


@dataclass(frozen=True)
class Settings:
    """Everything genvault can be configured with. Build it with :meth:`from_env`."""

    home: Path = field(default_factory=_default_home)
    """GENVAULT_HOME: data directory (embedded database, local images, sessions)."""
    profile: str = "default"
    """GENVAULT_PROFILE: which saved configuration and session to use."""
    database_url: str | None = None
    """DATABASE_URL: a PostgreSQL to use instead of the embedded one (direct transport)."""
    jwt_secret: str | None = None
    """SUPABASE_JWT_SECRET: HS256 secret that signs user tokens (direct transport)."""
    jwks_url: str | None = None
    """SUPABASE_JWKS_URL: where the project's public signing keys are, when not at
    the usual address under SUPABASE_URL (see :attr:`signing_keys_url`)."""
    supabase_url: str | None = None
    """SUPABASE_URL: a hosted project; switches the database and storage to it."""
    supabase_key: str | None = None
    """SUPABASE_ANON_KEY (or SUPABASE_PUBLISHABLE_KEY): the public API key."""
    supabase_service_key: str | None = None
    """SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY): operator commands only."""
    bucket: str = "generations"
    """GENVAULT_BUCKET: the private Storage bucket for images (hosted)."""
    replicate_token: str | None = None
    """REPLICATE_API_TOKEN: switches from the offline model to Replicate."""
    replicate_base_url: str = "https://api.replicate.com/v1"
    """REPLICATE_BASE_URL: Replicate's API root (tests point it at a local server)."""
    model: str | None = None
    """GENVAULT_MODEL: the default image model; flux-schnell on Replicate, else offline."""
    model_timeout: float = 300.0
    """GENVAULT_MODEL_TIMEOUT: seconds a generation may take before it is cancelled."""

    @property
    def hosted(self) -> bool:
        """True when the data lives in a hosted Supabase project reached over HTTP."""
        return self.supabase_url is not None and self.database_url is None

    @property
    def embedded(self) -> bool:
        """True when genvault starts its own PostgreSQL."""
        return self.database_url is None and self.supabase_url is None

    @property
    def storage_kind(self) -> Literal["supabase", "local"]:
        """Supabase Storage when a project is configured, else files under the home."""
        return "supabase" if self.supabase_url else "local"

    @property
    def signing_keys_url(self) -> str | None:
        """Where the project publishes its public signing keys (ES256/RS256):
        SUPABASE_JWKS_URL, else Auth's well-known address under SUPABASE_URL."""
        if self.jwks_url:
            return self.jwks_url
        if self.supabase_url:
            from genvault._jwks import jwks_address

            return jwks_address(self.supabase_url)
        return None

    @property
    def default_model(self) -> str:
        """The model used when a call names none."""
        if self.model:
            return self.model
        return DEFAULT_MODEL if self.replicate_token else OFFLINE_MODEL

    @property
    def profile_dir(self) -> Path:
        """Per-profile files: the saved session, the local signing secret."""
        return self.home / "profiles" / self.profile

    def with_profile(self, profile: str) -> Settings:
        """The same settings under another profile name (its session and files).

        To also read that profile's saved settings, use ``from_env(profile=...)``.
        """
        _check_profile(profile, "--profile")
        return replace(self, profile=profile)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        dotenv: Path | None = None,
        profile: str | None = None,
    ) -> Settings:
        """Read settings from ``env`` (default: os.environ) over a `.env` file.

        Values already in the environment win over the file. A profile's own file,
        ``<home>/profiles/<name>/settings.env``, fills in what neither sets. The
        profile is ``profile`` if given, else GENVAULT_PROFILE, else "default".
        """
        values: dict[str, str] = {}
        if env is None:
            env = os.environ
            dotenv = dotenv if dotenv is not None else Path.cwd() / ".env"
        if dotenv is not None and dotenv.is_file():
            values.update(_read_env_file(dotenv))
        values.update({k: v for k, v in env.items() if v != ""})

        home = Path(values["GENVAULT_HOME"]).expanduser() if "GENVAULT_HOME" in values else None
        if profile is not None:
            _check_profile(profile, "--profile")
        else:
            profile = values.get("GENVAULT_PROFILE", "default")
            _check_profile(profile, "GENVAULT_PROFILE")
        profile_file = (home or _default_home()) / "profiles" / profile / "settings.env"
        if profile_file.is_file():
            values = {**_read_env_file(profile_file), **values}
        return cls._from_values(values, home, profile)

    @classmethod
    def _from_values(cls, values: Mapping[str, str], home: Path | None, profile: str) -> Settings:
        def url(name: str, schemes: tuple[str, ...]) -> str | None:
            value = values.get(name)
            if value is None:
                return None
            if not value.startswith(schemes):
                raise ConfigError(
                    f"{name} is malformed: {value[:40]!r}",
                    hint=f"it must start with {' or '.join(schemes)}",
                )
            return value.rstrip("/")

        supabase_url = url("SUPABASE_URL", ("https://", "http://"))
        supabase_key = values.get("SUPABASE_ANON_KEY") or values.get("SUPABASE_PUBLISHABLE_KEY")
        if supabase_url and not supabase_key:
            raise ConfigError(
                "SUPABASE_ANON_KEY is missing",
                hint="set it (or SUPABASE_PUBLISHABLE_KEY) to the project's public API key",
            )
        model = values.get("GENVAULT_MODEL")
        if model and model != OFFLINE_MODEL and not _MODEL_REF.match(model):
            raise ConfigError(
                f"GENVAULT_MODEL is malformed: {model!r}",
                hint="use owner/name or owner/name:version, e.g. black-forest-labs/flux-schnell",
            )
        try:
            timeout = float(values.get("GENVAULT_MODEL_TIMEOUT", "300"))
        except ValueError:
            timeout = -1.0
        if not 1 <= timeout <= 3600:
            raise ConfigError(
                "GENVAULT_MODEL_TIMEOUT is malformed",
                hint="give a number of seconds between 1 and 3600",
            )
        bucket = values.get("GENVAULT_BUCKET", "generations")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{1,62}", bucket):
            raise ConfigError(
                f"GENVAULT_BUCKET is malformed: {bucket!r}",
                hint="use lower-case letters, digits, - and _",
            )
        kwargs: dict[str, object] = {
            "profile": profile,
            "database_url": url("DATABASE_URL", ("postgresql://", "postgres://")),
            "jwt_secret": values.get("SUPABASE_JWT_SECRET"),
            "jwks_url": url("SUPABASE_JWKS_URL", ("https://", "http://")),
            "supabase_url": supabase_url,
            "supabase_key": supabase_key,
            "supabase_service_key": values.get("SUPABASE_SERVICE_ROLE_KEY")
            or values.get("SUPABASE_SECRET_KEY"),
            "bucket": bucket,
            "replicate_token": values.get("REPLICATE_API_TOKEN"),
            "replicate_base_url": url("REPLICATE_BASE_URL", ("https://", "http://"))
            or "https://api.replicate.com/v1",
            "model": model,
            "model_timeout": timeout,
        }
        if home is not None:
            kwargs["home"] = home
        return cls(**kwargs)  # type: ignore[arg-type]


def _check_profile(name: str, source: str) -> None:
    if not _PROFILE_NAME.match(name):
        raise ConfigError(
            f"{source} is malformed: {name!r}",
            hint="use letters, digits, - and _ (up to 64 characters)",
        )


def _read_env_file(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None and v != ""}
