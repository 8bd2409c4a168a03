"""Tags are normalised and limited in the database, whoever calls the functions.

genvault_normalise_tags trims a tag as Python's str.strip() does, lower-cases it
and drops repeats; tag_generations refuses more than 20 at once, and the
generation_tags trigger refuses a 21st tag on one image, however the rows
arrive. The messages are the ones genvault shows.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.support.database import acting_as
from tests.support.users import User, user_claims


def _as(admin: psycopg.Connection[Any], user: User, query: str, params: Any = None) -> Any:
    with acting_as(admin, "authenticated", user_claims(user)):
        return admin.execute(query, params).fetchall()


def _tags(admin: psycopg.Connection[Any], generation: str) -> list[str]:
    rows = admin.execute(
        "select tag from public.generation_tags where generation_id = %s order by tag",
        (generation,),
    ).fetchall()
    return [r["tag"] for r in rows]


def _refusal(
    admin: psycopg.Connection[Any], user: User, query: str, params: Any
) -> tuple[str | None, str | None, str | None]:
    with (
        pytest.raises(psycopg.Error) as caught,
        acting_as(admin, "authenticated", user_claims(user)),
    ):
        admin.execute(query, params)
    diag = caught.value.diag
    return caught.value.sqlstate, diag.message_primary, diag.message_hint


TAG = "select public.tag_generations(array[%s]::uuid[], %s)"
UNTAG = "select public.untag_generations(array[%s]::uuid[], %s)"


def test_tags_are_stored_trimmed_lower_case_and_once(
    admin: psycopg.Connection[Any], make_generation: Any
) -> None:
    """Every white space str.strip() removes goes from the ends; case and repeats fold."""
    me, generation = make_generation()
    added = _as(
        admin, me, TAG, (generation, [" Portrait\u3000", "PORTRAIT", "\tsea\n", "\u00a0Sea"])
    )
    assert added == [{"tag_generations": 2}]
    assert _tags(admin, generation) == ["portrait", "sea"]
    removed = _as(admin, me, UNTAG, (generation, ["\u2003SEA "]))
    assert removed == [{"untag_generations": 1}]
    assert _tags(admin, generation) == ["portrait"]


@pytest.mark.parametrize(
    ("tags", "message", "hint"),
    [
        (["ok", " \t"], "a tag is empty", "give tags like: portrait, 2024"),
        (["x" * 51], "the tag 'xxxxxxxxxxxxxxxxxxxx'... is too long", "use at most 50 characters"),
        ([], "no tag given", "give at least one tag"),
        ([f"t{i}" for i in range(21)], "too many tags", "an image can have at most 20"),
    ],
    ids=["empty", "long", "none", "too-many"],
)
def test_bad_tags_are_refused_with_genvault_s_words(
    admin: psycopg.Connection[Any],
    make_generation: Any,
    tags: list[str],
    message: str,
    hint: str,
) -> None:
    me, generation = make_generation()
    assert _refusal(admin, me, TAG, (generation, tags)) == ("22023", message, hint)
    assert _tags(admin, generation) == []


def test_an_image_holds_at_most_twenty_tags_however_they_come(
    admin: psycopg.Connection[Any], make_generation: Any
) -> None:
    """Twenty fit; a tag it has is no 21st; a new one is refused by the table's trigger."""
    me, generation = make_generation()
    _as(admin, me, TAG, (generation, [f"t{i:02}" for i in range(20)]))
    assert _as(admin, me, TAG, (generation, ["T00 "])) == [{"tag_generations": 0}]
    state, message, _ = _refusal(admin, me, TAG, (generation, ["one-more"]))
    assert (state, message) == ("22023", "a generation can have at most 20 tags")
    assert len(_tags(admin, generation)) == 20
