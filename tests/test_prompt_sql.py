"""The prompt rule lives in the database: check_prompt, and every function that writes a prompt.

A prompt is trimmed of the white space Python's str.strip() removes, and refused
when it is empty, longer than 2,000 characters, or holds a text-direction
control character or any other control character but tab and newline, with the
message and hint genvault shows. A signed-in user who calls the functions
directly, without genvault's Python in between, is refused just the same, and
nothing is reserved, spent or stored by the refused call.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from genvault import InvalidInput
from genvault._transport import DirectTransport, open_pool
from tests.support.database import acting_as
from tests.support.hosted import PROJECT, HostedBackend, user_transport
from tests.support.users import User, user_claims

EMPTY = ("the prompt is empty", "describe the image you want")
BIDI_HINT = "they can make a prompt display differently from what it says; remove them"
LONG_HINT = "shorten it to at most 2,000 characters"

BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
WHITESPACE = [chr(c) for c in range(0x3001) if chr(c).isspace()]
CONTROLS = [
    chr(c) for c in range(1, 0xA0) if unicodedata.category(chr(c)) == "Cc" and chr(c) not in "\t\n"
]

ACCEPTED: list[tuple[str, str]] = [
    ("a fox in snow", "a fox in snow"),
    ("  a fox in snow  ", "a fox in snow"),
    ("\u3000\t\n a fox \u2029\x1c\x85", "a fox"),
    ("line one\nline two\twith a tab", "line one\nline two\twith a tab"),
    ("\u200ba zero-width space is not white space", "\u200ba zero-width space is not white space"),
    ("caf\u00e9 \u65e5\u672c \U0001f98a", "caf\u00e9 \u65e5\u672c \U0001f98a"),
    ("x" * 2000, "x" * 2000),
    ("  " + "x" * 2000 + "\n", "x" * 2000),
]

REFUSED: list[tuple[str | None, str, str]] = [
    (None, *EMPTY),
    ("", *EMPTY),
    (" \t\n\u00a0\u3000 ", *EMPTY),
    ("x" * 2001, "the prompt is 2,001 characters long", LONG_HINT),
    (" " + "y" * 123_456 + " ", "the prompt is 123,456 characters long", LONG_HINT),
    (
        "invoice \u202egpj.exe",
        "the prompt contains text-direction control characters (U+202E)",
        BIDI_HINT,
    ),
    (
        "\u2069a \u202a b \u2069\u202a",
        "the prompt contains text-direction control characters (U+202A, U+2069)",
        BIDI_HINT,
    ),
    ("a\rb", "the prompt contains control characters (U+000D)", "remove them"),
    (
        "a\x7f\x01b\x01\x9f",
        "the prompt contains control characters (U+0001, U+007F, U+009F)",
        "remove them",
    ),
    ("a\x85b", "the prompt contains control characters (U+0085)", "remove them"),
    (
        "both \x01 and \u202e",
        "the prompt contains text-direction control characters (U+202E)",
        BIDI_HINT,
    ),
]


def _check(conn: psycopg.Connection[Any], prompt: str | None) -> tuple[str, ...]:
    """What check_prompt answers as a signed-in user: ("ok", cleaned) or (state, message, hint)."""
    try:
        with acting_as(conn, "authenticated", {"sub": str(uuid.uuid4()), "role": "authenticated"}):
            row = conn.execute("select public.check_prompt(%s) as p", (prompt,)).fetchone()
    except psycopg.Error as exc:
        return (
            str(exc.sqlstate),
            str(exc.diag.message_primary),
            str(exc.diag.message_hint),
        )
    assert row is not None
    return ("ok", row["p"])


@pytest.mark.parametrize(("prompt", "cleaned"), ACCEPTED, ids=range(len(ACCEPTED)))
def test_a_good_prompt_comes_back_trimmed(
    admin: psycopg.Connection[Any], prompt: str, cleaned: str
) -> None:
    assert _check(admin, prompt) == ("ok", cleaned)


@pytest.mark.parametrize(("prompt", "message", "hint"), REFUSED, ids=range(len(REFUSED)))
def test_a_bad_prompt_is_refused_with_its_message_and_hint(
    admin: psycopg.Connection[Any], prompt: str | None, message: str, hint: str
) -> None:
    assert _check(admin, prompt) == ("22023", message, hint)


def test_the_problem_of_a_prompt_can_be_asked_without_an_error(
    admin: psycopg.Connection[Any],
) -> None:
    """genvault_prompt_problem answers the same rule as data: no message for a good prompt."""
    rows = admin.execute(
        "select p.cleaned, p.message, p.hint"
        "  from unnest(%s::text[]) with ordinality as t(prompt, n),"
        "       lateral public.genvault_prompt_problem(t.prompt) p order by t.n",
        ([" a fox ", "a\u202eb", ""],),
    ).fetchall()
    assert [tuple(r.values()) for r in rows] == [
        ("a fox", None, None),
        (
            "a\u202eb",
            "the prompt contains text-direction control characters (U+202E)",
            BIDI_HINT,
        ),
        ("", *EMPTY),
    ]


def test_every_white_space_python_strips_is_trimmed(admin: psycopg.Connection[Any]) -> None:
    """At either end each one goes, as str.strip() removes it; inside, tab and newline stay."""
    assert len(WHITESPACE) == 29
    found = {c: _check(admin, f"{c}a fox{c}") for c in WHITESPACE}
    assert {c: r for c, r in found.items() if r != ("ok", "a fox")} == {}


def test_every_text_direction_control_is_refused(admin: psycopg.Connection[Any]) -> None:
    found = {c: _check(admin, f"a {c} fox") for c in BIDI}
    expected = {
        c: (
            "22023",
            f"the prompt contains text-direction control characters (U+{ord(c):04X})",
            BIDI_HINT,
        )
        for c in BIDI
    }
    assert found == expected


def test_every_other_control_character_is_refused(admin: psycopg.Connection[Any]) -> None:
    """Every control character (Unicode category Cc) but tab and newline, inside a prompt.
    (NUL never reaches the rule: see the test below.)"""
    assert len(CONTROLS) == 62
    found = {c: _check(admin, f"a {c} fox") for c in CONTROLS}
    expected = {
        c: ("22023", f"the prompt contains control characters (U+{ord(c):04X})", "remove them")
        for c in CONTROLS
    }
    assert found == expected


def test_anon_cannot_call_it(admin: psycopg.Connection[Any]) -> None:
    """Only signed-in users check prompts (they are the ones who make images)."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(admin, "anon"):
        admin.execute("select public.check_prompt('a fox')")


# -- a signed-in user calling the functions directly ---------------------------------


def _counts(admin: psycopg.Connection[Any], user: User) -> dict[str, Any]:
    """What a refused write must leave as it was."""
    row = admin.execute(
        "select (select credits from public.user_credits where user_id = %(u)s) as credits,"
        " (select count(*) from public.credit_ledger where user_id = %(u)s) as ledger,"
        " (select count(*) from public.user_generations where user_id = %(u)s) as images,"
        " (select count(*) from public.prompt_templates where user_id = %(u)s) as templates",
        {"u": user.id},
    ).fetchone()
    assert row is not None
    return dict(row)


def _reserve(admin: psycopg.Connection[Any], user: User) -> str:
    with acting_as(admin, "authenticated", user_claims(user)):
        row = admin.execute(
            "select reservation_id from public.reserve_credit(%s)", (uuid.uuid4().hex,)
        ).fetchone()
    assert row is not None
    return str(row["reservation_id"])


def _refused(admin: psycopg.Connection[Any], user: User, query: str, params: Any) -> psycopg.Error:
    with (
        pytest.raises(psycopg.Error) as caught,
        acting_as(admin, "authenticated", user_claims(user)),
    ):
        admin.execute(query, params)
    return caught.value


RECORD = "select * from public.record_generation(%(res)s, {prompt}, %(path)s, 'test/model')"


def _record_refused(
    admin: psycopg.Connection[Any], me: User, prompt_sql: str, **values: str
) -> tuple[psycopg.Error, dict[str, str]]:
    """record_generation of a new reservation of ``me``, with ``prompt_sql`` as its prompt:
    the error, and the call's parameters. The refused call leaves everything as it was."""
    params = {"res": _reserve(admin, me), "path": f"{me.id}/{uuid.uuid4().hex}.webp", **values}
    before = _counts(admin, me)
    err = _refused(admin, me, RECORD.format(prompt=prompt_sql), params)
    assert _counts(admin, me) == before
    return err, params


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("invoice \u202egpj.exe", "the prompt contains text-direction control characters (U+202E)"),
        ("a\x1bb", "the prompt contains control characters (U+001B)"),
        ("   ", "the prompt is empty"),
        ("z" * 2001, "the prompt is 2,001 characters long"),
    ],
    ids=["bidi", "escape", "blank", "long"],
)
def test_record_generation_refuses_a_bad_prompt_and_keeps_the_credit_held(
    admin: psycopg.Connection[Any], make_user: Any, prompt: str, message: str
) -> None:
    me = make_user(credits=2)
    err, params = _record_refused(admin, me, "%(p)s", p=prompt)
    assert (err.sqlstate, err.diag.message_primary) == ("22023", message)
    # The reservation is still held: a good prompt can still be recorded with it.
    with acting_as(admin, "authenticated", user_claims(me)):
        row = admin.execute(RECORD.format(prompt="%(p)s"), {**params, "p": "\u3000a fox\n"})
        assert row.fetchone()["prompt"] == "a fox"


@pytest.mark.parametrize(
    ("text", "sqlstate"),
    [
        ("convert_from('\\x61006200'::bytea, 'UTF8')", "22021"),
        ("'a' || chr(0) || 'b'", "54000"),
        ("U&'a\\0000b'", "42601"),
    ],
    ids=["bytes", "chr", "escape"],
)
def test_no_way_of_writing_a_nul_reaches_the_history(
    admin: psycopg.Connection[Any], make_user: Any, text: str, sqlstate: str
) -> None:
    """PostgreSQL text cannot hold a NUL: each way of making one fails before the call."""
    err, _ = _record_refused(admin, make_user(credits=1), text)
    assert err.sqlstate == sqlstate


def test_templates_follow_the_prompt_rule(admin: psycopg.Connection[Any], make_user: Any) -> None:
    """save_template stores a template's prompt trimmed and refuses a bad one; a filled-in
    template is a prompt like any other."""
    me = make_user()
    for prompt, message in (
        ("a {animal} \u2066in\u2069 snow", "text-direction control characters (U+2066, U+2069)"),
        ("", "the prompt is empty"),
    ):
        err = _refused(admin, me, "select public.save_template('t', %s)", (prompt,))
        assert err.sqlstate == "22023"
        assert message in str(err.diag.message_primary)
    assert _counts(admin, me)["templates"] == 0
    with acting_as(admin, "authenticated", user_claims(me)):
        saved = admin.execute("select public.save_template('t', ' a {animal}\u3000')").fetchone()
    assert saved is not None
    assert saved["save_template"]["prompt"] == "a {animal}"
    render = "select * from public.render_template('t', %s::jsonb)"
    err = _refused(admin, me, render, ('{"animal": "\u202e"}',))
    assert (err.sqlstate, err.diag.message_primary, err.diag.message_hint) == (
        "22023",
        "the prompt contains text-direction control characters (U+202E)",
        BIDI_HINT,
    )
    err = _refused(admin, me, render, (f'{{"animal": "{"x" * 1999}"}}',))
    assert (err.sqlstate, err.diag.message_primary) == (
        "22023",
        "the prompt is 2,001 characters long",
    )


# -- what the library shows ----------------------------------------------------------


@pytest.fixture(params=["direct", "hosted"])
def user_rpc(
    request: pytest.FixtureRequest, make_user: Any, database_url: str, tmp_path: Path
) -> Iterator[Any]:
    """A transport acting as a new user: the direct one, or PostgREST's (the double)."""
    if request.param == "direct":
        pool = open_pool(database_url, max_size=2)
        try:
            yield DirectTransport(pool, role="authenticated", claims=user_claims(make_user()))
        finally:
            pool.close()
        return
    backend = HostedBackend(tmp_path, None if PROJECT else database_url)
    try:
        yield user_transport(backend)[1]
    finally:
        backend.close()


def test_the_library_shows_the_rule_s_message_and_hint(user_rpc: Any) -> None:
    """Through either transport the refusal is an InvalidInput with the rule's own words."""
    assert user_rpc.rpc("check_prompt", {"prompt": "  a fox\u3000"}, scalar=True) == "a fox"
    with pytest.raises(InvalidInput) as caught:
        user_rpc.rpc("check_prompt", {"prompt": "invoice \u202egpj.exe"}, scalar=True)
    assert (caught.value.message, caught.value.hint) == (
        "the prompt contains text-direction control characters (U+202E)",
        BIDI_HINT,
    )
    with pytest.raises(InvalidInput) as caught:
        user_rpc.rpc("check_prompt", {"prompt": "x" * 2001}, scalar=True)
    assert str(caught.value) == f"the prompt is 2,001 characters long ({LONG_HINT})"
