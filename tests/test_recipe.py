"""What `create` makes is settled before anything is spent: a template or an earlier
generation fills in what was not given, and the whole recipe is checked first."""

from __future__ import annotations

from typing import Any

import pytest

from genvault import InvalidInput, NotFound
from tests.support.library import ScriptedModel, SignIn


def test_a_template_fills_what_was_not_given(signed_in: SignIn) -> None:
    with signed_in(credits=1) as (_, gv):
        gv.templates.save("fox", "a {animal} at dawn", model="genvault/offline", params={"seed": 5})
        made = gv.recipe(template="fox", values={"animal": "owl"}, count=3)
        assert (made.prompt, made.model.name, made.aspect_ratio, made.seed) == (
            "a owl at dawn",
            "genvault/offline",
            "1:1",
            5,
        )
        assert [made.seed_at(i) for i in range(3)] == [5, 6, 7]
        mine = gv.recipe(template="fox", values={"animal": "owl"}, seed=9, aspect_ratio="3:2")
        assert (mine.seed, mine.aspect_ratio) == (9, "3:2")
        assert gv.credits.balance() == 1


def test_an_earlier_generation_is_repeated_by_its_prefix(signed_in: SignIn) -> None:
    with signed_in(credits=2) as (_, gv):
        first = gv.create(
            " a hare in the snow ", model="genvault/offline", aspect_ratio="16:9", seed=3
        )
        again = gv.recipe(source=first.id[:8])
        assert (again.prompt, again.model.name, again.aspect_ratio, again.seed) == (
            "a hare in the snow",
            "genvault/offline",
            "16:9",
            3,
        )
        other = gv.recipe("a hare at night", source=first.id, seed=None)
        assert (other.prompt, other.seed) == ("a hare at night", 3)
        with pytest.raises(NotFound, match="no generation id starts with"):
            gv.recipe(source="ffffffff")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no prompt given"),
        ({"prompt": "   "}, "the prompt is empty"),
        ({"prompt": "a fox", "aspect_ratio": "7:3"}, "unknown aspect ratio"),
        ({"prompt": "a fox", "seed": 4294967295, "count": 2}, "seed 4294967296 is out of range"),
        ({"prompt": "a fox", "model": "Not A Model"}, "model name 'Not A Model' is malformed"),
        ({"prompt": "a fox", "model": "genvault/other"}, "genvault has no model"),
        ({"template": "t", "source": "abcdef012"}, "not both"),
        ({"prompt": "x", "values": {"a": "b"}}, "values fill a template"),
    ],
)
def test_a_bad_recipe_is_refused_before_anything_is_spent(
    signed_in: SignIn, kwargs: dict[str, Any], message: str
) -> None:
    with signed_in(credits=1) as (_, gv):
        with pytest.raises(InvalidInput, match=message) as caught:
            gv.recipe(**kwargs)
        assert caught.value.hint
        assert gv.credits.balance() == 1


def test_check_prompt_trims_and_refuses_what_create_refuses(signed_in: SignIn) -> None:
    with signed_in(credits=1) as (_, gv):
        assert gv.check_prompt("  a red fox \n") == "a red fox"
        for bad, message in (("", "empty"), ("a\u202eb", "text-direction"), ("x" * 2001, "2,001")):
            with pytest.raises(InvalidInput, match=message):
                gv.check_prompt(bad)
            with pytest.raises(InvalidInput, match=message):
                gv.create(bad, model=ScriptedModel())
        assert gv.credits.balance() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "Not A Model"}, "model name 'Not A Model' is malformed"),
        ({"model": "genvault/other"}, "genvault has no model 'genvault/other'"),
        ({"params": {"aspect_ratio": "7:3"}}, "unknown aspect ratio"),
        ({"params": {"seed": -1}}, "the seed -1 is out of range"),
        ({"params": {"seed": "7"}}, "out of range"),
    ],
)
def test_a_template_is_checked_as_create_would_check_it(
    signed_in: SignIn, kwargs: dict[str, Any], message: str
) -> None:
    with signed_in() as (_, gv):
        with pytest.raises(InvalidInput, match=message):
            gv.templates.save("t", "a {x}", **kwargs)
        assert gv.templates.list() == []
        saved = gv.templates.save("t", "a {x}", model=" test/scripted ")
        assert saved.model == "test/scripted"
