"""The servers tests start for themselves (servers.py): a real PostgreSQL, or a failure with its reason."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import servers


def test_the_postgresql_server_answers_and_gives_each_test_an_empty_database(postgresql_url):
    engine = sa.create_engine(postgresql_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT current_database()")).scalar() == postgresql_url.rsplit("/", 1)[1]
        tables = connection.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
        assert tables.scalar() == 0
    engine.dispose()


def test_a_missing_postgresql_fails_the_test_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(servers, "POSTGRESQL_BINARIES", str(tmp_path / "postgresql" / "*" / "bin"))
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL is not installed .* apt-get install postgresql"):
        servers.start_postgresql(tmp_path)
