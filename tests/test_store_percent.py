"""A `%` written in a statement reaches the database as written, with parameters or without (on PostgreSQL a
statement without parameters is sent as it is: the `%%` its placeholders need went with it, so '5%' read '5%%' and a
partial index whose predicate holds a `%` was never seen to match)."""

from __future__ import annotations

from contextlib import closing

from assistant import store
from tests.helpers import BACKENDS


@BACKENDS
def test_a_percent_sign_in_a_statement_is_the_one_written(db_path: store.Location) -> None:
    with closing(store.connect(db_path)) as conn:
        assert tuple(conn.execute("SELECT '5%', 7 % 4").fetchone()) == ("5%", 3)
        assert tuple(conn.execute("SELECT '5%', 7 % ?", (4,)).fetchone()) == ("5%", 3)
