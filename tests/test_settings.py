"""Settings and sessions: a wrong setting names its variable; sessions stay private."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from genvault import Client, ConfigError, InvalidInput, NotSignedIn, Settings
from genvault._session import Session, SessionStore
from tests.support.library import settings_for


def test_no_settings_means_the_embedded_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"GENVAULT_HOME": str(tmp_path)})
    assert settings.embedded
    assert settings.storage_kind == "local"
    assert settings.default_model == "genvault/offline"
    assert settings.home == tmp_path


def test_replicate_token_switches_the_default_model() -> None:
    settings = Settings.from_env({"REPLICATE_API_TOKEN": "r8_x"})
    assert settings.default_model == "black-forest-labs/flux-schnell"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SUPABASE_URL": "ftp://x"}, "SUPABASE_URL"),
        ({"SUPABASE_URL": "https://x.supabase.co"}, "SUPABASE_ANON_KEY"),
        ({"GENVAULT_MODEL": "not a model"}, "GENVAULT_MODEL"),
        ({"GENVAULT_MODEL_TIMEOUT": "soon"}, "GENVAULT_MODEL_TIMEOUT"),
        ({"GENVAULT_BUCKET": "Bad Bucket"}, "GENVAULT_BUCKET"),
        ({"GENVAULT_PROFILE": "../etc"}, "GENVAULT_PROFILE"),
    ],
)
def test_a_malformed_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_environment_wins_over_dotenv_and_profile_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("GENVAULT_MODEL=owner/from-dotenv\nGENVAULT_BUCKET=from-dotenv\n")
    profile = tmp_path / "home" / "profiles" / "work" / "settings.env"
    profile.parent.mkdir(parents=True)
    profile.write_text("GENVAULT_BUCKET=from-profile\nGENVAULT_MODEL_TIMEOUT=42\n")
    settings = Settings.from_env(
        {
            "GENVAULT_HOME": str(tmp_path / "home"),
            "GENVAULT_PROFILE": "work",
            "GENVAULT_MODEL": "owner/from-env",
        },
        dotenv=dotenv,
    )
    assert settings.model == "owner/from-env"
    assert settings.bucket == "from-dotenv"
    assert settings.model_timeout == 42


def test_session_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "p" / "session.json")
    store.save(Session(kind="hosted", user_id="u", access_token="secret", expires_at=1.0))
    mode = stat.S_IMODE((tmp_path / "p" / "session.json").stat().st_mode)
    assert mode == 0o600
    loaded = store.load()
    assert loaded is not None
    assert loaded.access_token == "secret"
    store.clear()
    assert store.load() is None


def test_nobody_signed_in_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    with Client(settings_for(database_url, tmp_path)) as gv, pytest.raises(NotSignedIn):
        gv.generations.list()


def test_local_sign_in_creates_the_user_once_with_starter_credits(
    database_url: str, tmp_path: Path, admin: Any
) -> None:
    settings = Settings(home=tmp_path, database_url=database_url)  # local signing secret
    with Client(settings) as gv:
        first = gv.sign_in_local("alice")
        assert gv.credits.balance() == 10
        again = gv.sign_in_local("alice")
        assert again.user_id == first.user_id
        other = gv.sign_in_local("bob")
        assert other.user_id != first.user_id
        assert gv.generations.list().items == []
        gv.sign_out()
        assert gv.session() is None
    with pytest.raises(InvalidInput):
        Client(settings).sign_in_local("Not A Name!")


def test_the_embedded_default_starts_and_migrates_itself(tmp_path: Path) -> None:
    """No settings at all: genvault starts its own PostgreSQL and applies its SQL."""
    from genvault._embedded import stop_embedded

    try:
        with Client(Settings(home=tmp_path / "gv")) as gv:
            gv.sign_in_local("solo")
            gen = gv.create("an embedded test")
            assert gv.generations.get(gen.id).prompt == "an embedded test"
            assert gv.credits.balance() == 9
        assert (tmp_path / "gv" / "postgres" / "PG_VERSION").exists()
    finally:
        assert stop_embedded(tmp_path / "gv")
