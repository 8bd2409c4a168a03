"""Bad input gets one clear error and changes nothing. Prompts, search text, ids, limits,
model names, model outputs, an unreachable database and broken settings, through the
library (both transports) and the installed `gen` script.

The library must raise the right GenvaultError subclass, with a hint where the library
itself checks the value; the CLI must exit 1 with exactly one error line (exit 2 and
Typer's usage message for an option out of its declared range), nothing on stdout and
no traceback. Around every refusal the user's books are read before and after: no
balance, ledger, row or file may differ (a refusal that comes after a reservation may
add the reservation and its refund, but nothing else).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genvault import Client, Settings
from genvault._exceptions import (
    BackendUnreachable,
    ConfigError,
    GenvaultError,
    InvalidInput,
    ModelFailed,
    NotSignedIn,
)
from genvault._images import MAX_IMAGE_BYTES
from genvault._replicate import ReplicateModel
from tests.support.fake_replicate import FLUX, serve
from tests.support.library import ScriptedModel, client_for
from tests.support.reliability import (
    Books,
    Evidence,
    HostedProject,
    assert_clean_cli_failure,
    books,
    fuzz_settings,
    gen_env,
    local_files,
    login_local,
    run_gen,
    set_balance,
    snapshot,
    tiny_png,
)
from tests.support.users import User, create_user

BAD_PROMPTS = {
    "empty": "",
    "blank": "   \n\t ",
    "2,001 characters": "x" * 2001,
    "2,001 characters inside spaces": "  " + "y" * 2001 + "  ",
    "NUL": "a red\x00fox",
    "right-to-left override": "invoice \u202egpj.exe",
    "direction isolate": "left \u2067right\u2069",
    "bell": "ding\x07",
}
BAD_IDS = [
    "",
    "1234",
    "not-a-uuid",
    "' or 1=1 --",
    "3f1c2a9e-5b7d-4e0a-9c1b-2d3e4f5a6b7",  # one digit short
    "3f1c2a9e-5b7d-4e0a-9c1b-2d3e4f5a6b7c0",  # one too many
    "zzzzzzzz-5b7d-4e0a-9c1b-2d3e4f5a6b7c",
    "../../etc/passwd",
]
TRICKY_PROMPTS = [
    "100% cotton",
    "snake_case sign",
    "back\\slash",
    "it's raining",
    'say "cheese"',
    "a%b_c\\d",
    "%%",
    "__",
    "\\\\",
    "50%_off",
    "O'Brien \\ 100%",
    "plain words",
]


class Vault:
    """A user with credits and one saved image, on one transport."""

    def __init__(
        self, name: str, admin: psycopg.Connection[Any], database_url: str, home: Path
    ) -> None:
        self.name = name
        self.admin = admin
        self.project = HostedProject(database_url, home / "hosted") if name == "hosted" else None
        self._database_url = database_url
        self.home = home
        self.user: User = create_user(admin, credits=3)
        with self.client() as gv:
            self.saved = gv.create("a saved image", model=ScriptedModel(data=tiny_png()))

    def client(self) -> Client:
        if self.project is not None:
            return self.project.client(self.user.token())
        return client_for(self.user, self._database_url, self.home)

    def files(self, user_id: str) -> set[str]:
        if self.project is not None:
            return self.project.files(user_id)
        return local_files(self.home / "images")(user_id)

    def read(self, user_id: str) -> dict[str, bytes]:
        if self.project is not None:
            return self.project.read(user_id)
        folder = self.home / "images" / user_id
        return {f"{user_id}/{p.name}": p.read_bytes() for p in folder.iterdir()}

    def books(self) -> Books:
        return books(self.admin, self.user.id, self.files)

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.admin, self.user.id, self.read)

    def close(self) -> None:
        if self.project is not None:
            self.project.close()


@pytest.fixture(params=["direct", "hosted"])
def vault(
    request: pytest.FixtureRequest,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
) -> Iterator[Vault]:
    made = Vault(request.param, admin, database_url, tmp_path)
    yield made
    made.close()


def refused(
    call: Callable[[], Any], expected: type[GenvaultError], evidence: Evidence, *, hint: bool
) -> GenvaultError:
    with pytest.raises(GenvaultError) as info:
        call()
    assert type(info.value) is expected, repr(info.value)
    assert info.value.message.strip(), "an error without a message"
    if hint:
        assert info.value.hint, f"no hint: {info.value!r}"
    evidence.add("bad inputs tried")
    return info.value


# -- the library ----------------------------------------------------------------------


def test_bad_prompts_are_refused_before_anything_is_reserved(
    vault: Vault, evidence: Evidence
) -> None:
    """Blank, 2,001-character, NUL, right-to-left override, direction-isolate and
    control-character prompts, given to create and to save: InvalidInput with a hint,
    the model never runs, and the user's data (down to each ledger entry) is unchanged.
    2,000 characters, even inside spaces, is still accepted."""
    before = vault.snapshot()
    model = ScriptedModel(data=tiny_png())
    with vault.client() as gv:
        for prompt in BAD_PROMPTS.values():
            refused(lambda p=prompt: gv.create(p, model=model), InvalidInput, evidence, hint=True)
            refused(lambda p=prompt: gv.save(p, tiny_png()), InvalidInput, evidence, hint=True)
        assert model.calls == 0
        assert vault.snapshot() == before
        longest = gv.create("  " + "z" * 2000 + "  ", model=model)
        assert longest.prompt == "z" * 2000


def test_search_text_is_matched_literally(vault: Vault, evidence: Evidence) -> None:
    """Searches made of %, _, backslash, quotes, spaces and letters over prompts full of
    them (hypothesis): the result is exactly the prompts that contain the text, ignoring
    case, as a plain substring; SQL-looking text finds nothing and harms nothing."""
    set_balance(vault.admin, vault.user.id, len(TRICKY_PROMPTS))
    with vault.client() as gv:
        for prompt in TRICKY_PROMPTS:
            gv.save(prompt, tiny_png())
        before = vault.snapshot()
        mine = {g.id: g.prompt for g in gv.generations.iter_all()}

        @fuzz_settings()
        @given(text=st.text(alphabet="%_\\'\" abOB0", min_size=1, max_size=4))
        def matches_literally(text: str) -> None:
            evidence.add("hypothesis examples")
            if not text.strip():
                with pytest.raises(InvalidInput):
                    gv.generations.search(text)
                return
            found = {g.id for g in gv.generations.search(text, limit=500).items}
            needle = text.strip(" ").lower()
            assert found == {i for i, p in mine.items() if needle in p.lower()}, text

        matches_literally()
        for attack in ("'; drop table public.user_generations; --", "%' or '1'='1", "\\'%"):
            assert gv.generations.search(attack).items == []
            evidence.add("injection-shaped searches")
        assert vault.snapshot() == before


def test_bad_search_text_is_refused(vault: Vault, evidence: Evidence) -> None:
    """Empty, blank, 2,001-character and NUL-containing search text: InvalidInput with a
    hint, and nothing changed."""
    before = vault.snapshot()
    with vault.client() as gv:
        for text in ("", "   ", "q" * 2001, "a\x00b"):
            refused(lambda t=text: gv.generations.search(t), InvalidInput, evidence, hint=True)
    assert vault.snapshot() == before


def test_malformed_ids_are_refused(vault: Vault, evidence: Evidence, tmp_path: Path) -> None:
    """Malformed generation ids (empty, short, long, non-hex, SQL- and path-shaped) given
    to get, delete, download and image_url: InvalidInput with a hint, nothing deleted."""
    before = vault.snapshot()
    with vault.client() as gv:
        for bad in BAD_IDS:
            refused(lambda b=bad: gv.generations.get(b), InvalidInput, evidence, hint=True)
            refused(
                lambda b=bad: gv.generations.delete([vault.saved.id, b]),
                InvalidInput,
                evidence,
                hint=True,
            )
            refused(
                lambda b=bad: gv.generations.download(b, tmp_path),
                InvalidInput,
                evidence,
                hint=True,
            )
            refused(lambda b=bad: gv.generations.image_url(b), InvalidInput, evidence, hint=True)
    assert vault.snapshot() == before


LIMITS: dict[str, tuple[Callable[[Client, int], Any], list[int]]] = {
    "list": (lambda gv, n: gv.generations.list(limit=n), [0, -1, 1001, 10**9, -(10**12)]),
    "search": (
        lambda gv, n: gv.generations.search("a", limit=n),
        [0, -1, 1001, 10**9, -(10**12)],
    ),
    "ledger": (lambda gv, n: gv.credits.ledger(limit=n), [0, -1, 1001, 10**12]),
    "stats days": (lambda gv, n: gv.generations.stats(days=n), [0, -1, 3661, 2**31, 10**12]),
    "stats top": (lambda gv, n: gv.generations.stats(top=n), [0, -1, 101, 2**31, 10**12]),
}


@pytest.mark.parametrize("what", list(LIMITS))
def test_out_of_range_limits_are_refused(vault: Vault, what: str, evidence: Evidence) -> None:
    """Negative, zero, just-too-large and huge (past 32 bits) limits for list, search,
    ledger and stats: InvalidInput, never a database type error, and nothing changed."""
    call, values = LIMITS[what]
    before = vault.snapshot()
    problems = []
    with vault.client() as gv:
        for n in values:
            try:
                call(gv, n)
            except InvalidInput:
                evidence.add("bad inputs tried")
                continue
            except GenvaultError as exc:
                problems.append(f"{what}={n}: {type(exc).__name__}: {exc}")
            else:
                problems.append(f"{what}={n}: accepted")
    assert vault.snapshot() == before
    assert not problems, "\n".join(problems)


def test_unknown_models_are_refused(vault: Vault, evidence: Evidence) -> None:
    """Malformed, upper-case, genvault-reserved and token-less model names are refused
    before anything is reserved; a well-formed name Replicate does not know is refused
    after the reservation, which is refunded: the balance, rows and files are as before
    and no reservation is left open."""
    before = vault.snapshot()
    with vault.client() as gv:
        for name in ("nope", "Owner/Name", "genvault/other", "someone/model", "a/b:xyz"):
            refused(lambda n=name: gv.create("a fox", model=n), InvalidInput, evidence, hint=True)
    assert vault.snapshot() == before
    books_before = vault.books()
    with serve() as fake:
        model = ReplicateModel(fake.token, model="someone/unknown", base_url=fake.api_url)
        with vault.client() as gv:
            refused(lambda: gv.create("a fox", model=model), InvalidInput, evidence, hint=True)
    after = vault.books()
    assert (after.balance, after.ledger_sum, after.rows, after.files) == (
        books_before.balance,
        books_before.ledger_sum,
        books_before.rows,
        books_before.files,
    )
    after.assert_consistent()


OUTPUTS: dict[str, dict[str, Any]] = {
    "an HTML page": {"output": b"<html><body>not an image</body></html>"},
    "50 MB + 1 byte": {"output_size": MAX_IMAGE_BYTES + 1},
    "50 MB + 1 byte, chunked": {"output_size": MAX_IMAGE_BYTES + 1, "output_chunked": True},
    "exactly 50 MB of zeros": {"output_size": MAX_IMAGE_BYTES},
    "a data URL that is not base64": {
        "output_as_data_url": True,
        "output": b"<svg/>",
        "output_content_type": "image/svg+xml",
    },
    "an expired output URL": {"output_status": 404},
    "no output (data removed)": {"data_removed": True},
}


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_replicate_outputs_that_are_not_images_are_refused(
    output: str,
    make_user: Any,
    admin: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    evidence: Evidence,
) -> None:
    """A Replicate prediction that succeeds with something other than a usable image (an
    HTML page, 50 MB and more, a non-base64 data URL, an expired URL, no output):
    ModelFailed, the credit refunded, no row, no file."""
    user = make_user(credits=2)
    files = local_files(tmp_path / "images")
    before = books(admin, user.id, files)
    with serve() as fake:
        for key, value in OUTPUTS[output].items():
            setattr(fake.script, key, value)
        model = ReplicateModel(fake.token, model=FLUX, base_url=fake.api_url, poll_interval=0.05)
        with client_for(user, database_url, tmp_path) as gv:
            refused(lambda: gv.create("a fox", model=model), ModelFailed, evidence, hint=False)
    after = books(admin, user.id, files)
    assert (after.balance, after.ledger_sum, after.rows, after.files) == (
        before.balance,
        before.ledger_sum,
        before.rows,
        before.files,
    )
    after.assert_consistent()


def test_saving_bytes_that_are_not_an_image_is_invalid_input(
    vault: Vault, evidence: Evidence
) -> None:
    """Client.save with bytes that are no image (empty, text, a truncated PNG): an
    InvalidInput about the image given (there is no model to blame), and the credit
    refunded."""
    before = vault.books()
    with vault.client() as gv:
        for data in (b"", b"just some text", tiny_png()[:30]):
            error = refused(
                lambda d=data: gv.save("an upload", d), InvalidInput, evidence, hint=True
            )
            assert "model" not in error.message
    after = vault.books()
    assert (after.balance, after.rows, after.files) == (before.balance, before.rows, before.files)


def test_malformed_settings_are_config_errors(evidence: Evidence) -> None:
    """Each malformed setting read by Settings.from_env: a ConfigError that names the
    variable and says what it must look like."""
    cases = {
        "DATABASE_URL": "mysql://localhost/genvault",
        "SUPABASE_URL": "ftp://project.supabase.co",
        "SUPABASE_JWKS_URL": "file:///etc/keys.json",
        "REPLICATE_BASE_URL": "localhost:9999",
        "GENVAULT_MODEL": "Not A Model",
        "GENVAULT_MODEL_TIMEOUT": "soon",
        "GENVAULT_BUCKET": "Bad Bucket!",
        "GENVAULT_PROFILE": "../elsewhere",
    }
    for variable, value in cases.items():
        with pytest.raises(ConfigError) as info:
            Settings.from_env({variable: value, "GENVAULT_HOME": "/nonexistent"}, dotenv=None)
        assert variable in info.value.message, info.value
        assert info.value.hint, info.value
        evidence.add("malformed settings tried")
    with pytest.raises(ConfigError, match="SUPABASE_ANON_KEY"):
        Settings.from_env({"SUPABASE_URL": "https://x.supabase.co"}, dotenv=None)
    evidence.add("malformed settings tried")


def test_an_unreachable_database_is_reported_cleanly(tmp_path: Path, evidence: Evidence) -> None:
    """DATABASE_URL pointing at a closed port: the library raises BackendUnreachable with
    a hint, and `gen list` (signed in) and `gen login --local` exit 1 with one error
    line, no traceback and no log lines from the connection pool."""
    closed = "postgresql://postgres@127.0.0.1:1/genvault"
    home = tmp_path / "vault"
    session = home / "profiles" / "default" / "session.json"
    session.parent.mkdir(parents=True)
    session.write_text(
        json.dumps(
            {"kind": "local", "user_id": "6f1c2a9e-5b7d-4e0a-9c1b-2d3e4f5a6b7c", "email": "x@y.z"}
        )
    )
    env = gen_env(closed, home)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        listed = pool.submit(run_gen, "list", env=env)
        login = pool.submit(run_gen, "login", "--local", "someone", env=env)
        with Client(Settings(home=home, database_url=closed)) as gv:
            error = refused(lambda: gv.credits.balance(), BackendUnreachable, evidence, hint=True)
        library_seconds = time.monotonic() - started
        done = [listed.result(), login.result()]
    evidence.note(
        f"an unreachable database takes {library_seconds:.1f} s to be reported by the"
        f" library ({error.message[:80]})"
    )
    evidence.add("CLI runs against a closed port", len(done))
    failures = []
    for d in done:
        try:
            assert_clean_cli_failure(d, contains="connect")
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)


# -- the CLI --------------------------------------------------------------------------

# (arguments, extra environment, text the error line must contain, exit code)
CLI_CASES: list[tuple[list[str], dict[str, str], str, int]] = [
    (["create", ""], {}, "prompt is empty", 1),
    (["create", "   "], {}, "prompt is empty", 1),
    (["create", "x" * 2001], {}, "2,001 characters", 1),
    (["create", "invoice \u202egpj.exe"], {}, "text-direction", 1),
    (["create", "x", "--aspect-ratio", "7:3"], {}, "aspect ratio", 1),
    (["create", "x", "--seed", "-1"], {}, "seed", 1),
    (["create", "x", "--model", "nope"], {}, "malformed", 1),
    (["create", "x", "--model", "someone/model"], {}, "REPLICATE_API_TOKEN", 1),
    (["show", "1234"], {}, "not a generation id", 1),
    (["show", "' or 1=1 --"], {}, "not a generation id", 1),
    (["delete", "not-an-id", "--yes"], {}, "not a generation id", 1),
    (["list", "--before", "garbage"], {}, "cursor", 1),
    (["search", "   "], {}, "search text is empty", 1),
    (["search", "q" * 2001], {}, "too long", 1),
    (["list", "--limit", "0"], {}, "Invalid value", 2),
    (["list", "--limit", "1000000"], {}, "Invalid value", 2),
    (["stats", "--days", "0"], {}, "Invalid value", 2),
    (["credits", "--limit", "-1"], {}, "Invalid value", 2),
    (["list"], {"GENVAULT_MODEL_TIMEOUT": "soon"}, "GENVAULT_MODEL_TIMEOUT", 1),
    (["list"], {"DATABASE_URL": "mysql://localhost/x"}, "DATABASE_URL", 1),
    (["create", "x"], {"GENVAULT_MODEL": "Not A Model"}, "GENVAULT_MODEL", 1),
    (["list"], {"GENVAULT_BUCKET": "Bad!"}, "GENVAULT_BUCKET", 1),
    (["list"], {"REPLICATE_BASE_URL": "ftp://x"}, "REPLICATE_BASE_URL", 1),
    (["list"], {"GENVAULT_PROFILE": "../x"}, "GENVAULT_PROFILE", 1),
    (["--profile", "../x", "list"], {}, "profile", 1),
    (["list"], {"DATABASE_URL": "", "SUPABASE_URL": "https://x.supabase.co"}, "SUPABASE_ANON", 1),
    (
        ["login", "--email", "a@b.test", "--code"],
        {
            "DATABASE_URL": "",
            "SUPABASE_URL": "https://x.supabase.co",
            "SUPABASE_ANON_KEY": "sb_secret_0123456789abcdefghijklmnop",
        },
        "secret",
        1,
    ),
    (["list"], {"GENVAULT_PROFILE": "nobody-here"}, "nobody is signed in", 1),
    # These reach Replicate (the local stand-in) after the credit is reserved.
    (["create", "x"], {"REPLICATE_API_TOKEN": "r8_wrong"}, "refused the API token", 1),
    (["create", "x", "--model", "someone/unknown"], {"@replicate": "1"}, "has no model", 1),
    (["create", "x"], {"@replicate": "1"}, "not an image", 1),
]


def test_the_cli_refuses_bad_input_with_one_clean_error(
    admin: psycopg.Connection[Any], database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """Bad invocations of the installed `gen` script, signed in as a local user with a
    saved image: bad prompts, ids, cursors, search text, out-of-range options, malformed
    or missing settings, a secret key given as the public one, no session, a wrong
    Replicate token, an unknown model and a non-image output. Each exits 1 (2 for an
    option outside its declared range) with one error line, and the user's balance,
    rows and files are unchanged, with no reservation left open."""
    home = tmp_path / "vault"
    with serve() as fake:
        fake.script.output = b"<html>not an image</html>"
        fake.script.output_content_type = "text/html"
        base = gen_env(database_url, home)
        user = login_local(base, admin, f"bad-input-{secrets.token_hex(3)}")
        files = local_files(home / "images")
        made = run_gen("create", "a saved image", "--json", env=base)
        assert made.returncode == 0, made.stderr
        before = books(admin, user.id, files)

        def run(case: tuple[list[str], dict[str, str], str, int]) -> tuple[Any, ...]:
            args, extra, _, _ = case
            env = {**base, **{k: v for k, v in extra.items() if not k.startswith("@")}}
            if "@replicate" in extra or "REPLICATE_API_TOKEN" in extra:
                env.setdefault("REPLICATE_API_TOKEN", fake.token)
                env["REPLICATE_BASE_URL"] = fake.api_url
            env = {k: v for k, v in env.items() if v != ""}
            return case, run_gen(*args, env=env)

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(run, CLI_CASES))
    failures = []
    for (args, _, expected, code), done in results:
        evidence.add("bad invocations")
        try:
            assert_clean_cli_failure(done, code=code, contains=expected)
        except AssertionError as exc:
            failures.append(f"gen {' '.join(a[:30] for a in args)}:\n{exc}")
    after = books(admin, user.id, files)
    assert (after.balance, after.ledger_sum, after.rows, after.files) == (
        before.balance,
        before.ledger_sum,
        before.rows,
        before.files,
    )
    after.assert_consistent()
    assert not failures, "\n\n".join(failures)


def test_not_signed_in_is_refused_without_touching_the_database(
    database_url: str, tmp_path: Path, evidence: Evidence
) -> None:
    """A client with no session and no token: every operation is NotSignedIn with a hint
    to sign in, before a connection is opened."""
    gv = Client(Settings(home=tmp_path, database_url=database_url))
    for call in (
        lambda: gv.generations.list(),
        lambda: gv.create("a fox", model=ScriptedModel()),
        lambda: gv.credits.balance(),
        lambda: gv.sweep(older_than=timedelta(0)),
        lambda: gv.delete_account(),
    ):
        refused(call, NotSignedIn, evidence, hint=True)
    assert gv._pool is None
