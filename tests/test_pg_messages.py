"""What a PostgreSQL database's operator is told: the checks at start (collation, connection budget), and the
reasons given for a fault, to callers (generic) and in the log (in full)."""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest
from psycopg import sql

from assistant import pg
from assistant.schema import SchemaError
from assistant.writer import Writer
from tests.pgcluster import Cluster

_names = itertools.count(1)


def _database(cluster: Cluster, options: str = "", *, role_limit: int | None = None) -> pg.Location:
    """A new database created with `options`, owned by a new role (with `role_limit` as its CONNECTION LIMIT)."""
    name = f"m_{os.getpid()}_{next(_names)}"
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}").format(
                sql.Identifier(name),
                sql.Literal(cluster.password),
                sql.Literal(-1 if role_limit is None else role_limit),
            )
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} " + options).format(sql.Identifier(name), sql.Identifier(name))
        )
    return pg.Location(f"postgresql://{name}@127.0.0.1:{cluster.port}/{name}", cluster.password)


async def test_pg_start_warns_of_a_role_connection_limit_below_an_instances_need(
    pg_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    roomy = _database(pg_cluster)
    await Writer(roomy).close()
    assert "CONNECTION LIMIT" not in caplog.text
    location = _database(pg_cluster, role_limit=4)  # the server has room; the role has 3 more after the writer's
    await Writer(location).close()
    user = location.url.split("//")[1].split("@")[0]
    assert f"the role {user} may open 3 more connections (its CONNECTION LIMIT)" in caplog.text
    assert f"this instance may open {pg.CONNECTIONS_PER_INSTANCE - 1} more" in caplog.text


async def test_pg_start_refuses_a_database_sorted_by_icu_although_its_collate_says_c(pg_cluster: Cluster) -> None:
    location = _database(
        pg_cluster, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'zh-CN' LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    with pytest.raises(SchemaError, match="the database sorts text by the ICU locale 'zh-CN'"):
        Writer(location)
    c_location = _database(pg_cluster, "TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C'")
    await Writer(c_location).close()  # the same server's libc C database starts
