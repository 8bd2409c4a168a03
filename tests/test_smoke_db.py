from typing import Any

import psycopg

from tests.support.database import acting_as
from tests.support.users import user_claims


def test_new_user_gets_starter_credits(admin: psycopg.Connection[Any], make_user: Any) -> None:
    user = make_user()
    with acting_as(admin, "authenticated", user_claims(user)) as conn:
        row = conn.execute("select credits from public.user_credits").fetchone()
    assert row == {"credits": 10}
