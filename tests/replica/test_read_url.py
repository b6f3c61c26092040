"""AUDITLENS_READ_DATABASE_URL without a standby running: a bad value is one line naming the
setting, a password never reaches a message, a server that is not a standby says so, and a
read that may lag leaves no read-only flag on the pooled connection after it."""

from __future__ import annotations

import shutil

import pytest

from sql.embedded import EmbeddedPostgres
from sql.errors import ConfigurationError, StandbyUnavailable
from sql.gateway import Database
from sql.settings import READ_DATABASE_URL_ENV, Settings
from sql.standby import standby_lag
from tests.conftest import _new_data_dir, _test_settings


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("mysql://u@h/db", "must be a postgresql:// URL"),
        ("not a url", "is not a database URL"),
        ("postgresql://u@h:99999/db", "invalid port"),
    ],
)
def test_a_bad_read_url_is_one_line_naming_the_setting(monkeypatch, value, says):
    monkeypatch.setenv(READ_DATABASE_URL_ENV, value)
    settings = Settings.from_env()
    assert settings.read_database_url == value
    with pytest.raises(ConfigurationError) as caught:
        Database("postgresql://u@h/db", settings, read_url=settings.read_database_url)
    assert str(caught.value).startswith(READ_DATABASE_URL_ENV) and says in str(caught.value)


def test_a_blank_read_url_means_no_standby(monkeypatch):
    monkeypatch.setenv(READ_DATABASE_URL_ENV, "  ")
    assert Settings.from_env().read_database_url is None


def test_an_unreachable_standby_is_one_line_without_the_password(db):
    # Port 1: nothing listens there, so the connection is refused at once.
    replica = Database(db.url, _test_settings(), read_url="postgresql://ro:s3cret@127.0.0.1:1/x")
    try:
        with (
            pytest.raises(StandbyUnavailable) as caught,
            replica.org_session("org_a", may_lag=True),
        ):
            pass
        message = str(caught.value)
        assert "127.0.0.1:1" in message and "s3cret" not in message and "\n" not in message
        with pytest.raises(StandbyUnavailable):
            standby_lag(replica)
        with replica.org_session("org_a") as s:  # the primary's reads do not need it
            assert s.scalar("SELECT 1") == 1
    finally:
        replica.close()


def test_a_read_url_that_is_not_a_standby_says_so(db):
    replica = Database(db.url, _test_settings(), read_url=db.url)
    try:
        lag = standby_lag(replica)
        assert lag is not None and lag.replay_lsn is None
        assert "is not a standby" in lag.sentence() and READ_DATABASE_URL_ENV in lag.sentence()
    finally:
        replica.close()


def test_a_pooled_connection_is_read_write_again_after_a_read_that_may_lag(db):
    one = Database(db.url, _test_settings(), pool_size=1)  # the same connection every time
    try:
        with one.org_session("org_a", may_lag=True, snapshot=True) as s:
            assert s.scalar("SELECT current_setting('transaction_read_only')") == "on"
            backend = s.scalar("SELECT pg_backend_pid()")
        with one.org_session("org_a") as s:
            assert s.scalar("SELECT pg_backend_pid()") == backend
            assert s.scalar("SELECT current_setting('transaction_read_only')") == "off"
            assert s.scalar("SELECT current_setting('transaction_isolation')") == "read committed"
    finally:
        one.close()


def test_a_read_server_that_is_not_a_copy_of_the_primary_is_refused(db):
    other = EmbeddedPostgres(_new_data_dir(), fast_unsafe=True)  # another cluster altogether
    replica = Database(db.url, _test_settings(), read_url=other.start())
    try:
        with (
            pytest.raises(ConfigurationError) as on_read,
            replica.org_session("org_a", may_lag=True),
        ):
            pass
        with pytest.raises(ConfigurationError) as on_lag:
            standby_lag(replica)
        for caught in (on_read, on_lag):
            message = str(caught.value)
            assert message.startswith(f"{READ_DATABASE_URL_ENV} points at ")
            assert "not a copy of the primary" in message and "\n" not in message
    finally:
        replica.close()
        other.stop()
        shutil.rmtree(other.data_dir, ignore_errors=True)
