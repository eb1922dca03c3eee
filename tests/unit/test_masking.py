"""Secret classification (explicit, by key token, by value prefix) and masking in every form."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from devenv.environment import CanonicalEnv
from devenv.masking import MASK, Masker, is_secret_key, mask_url, mask_value
from tests.support.secrets import assert_no_secret

# (key, secret?) — whole-token heuristics; the False rows are the traps peers fall into.
KEYS = [
    ("PASSWORD", True),
    ("DB_PASSWORD", True),
    ("db_password", True),
    ("MYSQL_ROOT_PASSWD", True),
    ("SMTP_PASS", True),
    ("CLIENT_SECRET", True),
    ("SECRET", True),
    ("GITHUB_TOKEN", True),
    ("NPM_TOKEN", True),
    ("STRIPE_APIKEY", True),
    ("LLM_API_KEY", True),
    ("OPENAI_API_KEY", True),
    ("AWS_ACCESS_KEY", True),
    ("AWS_SECRET_ACCESS_KEY", True),
    ("SECRET_KEY", True),
    ("DJANGO_SECRET_KEY", True),
    ("ENCRYPTION_KEY", True),
    ("GOOGLE_APPLICATION_CREDENTIALS", True),
    ("DOCKER_CREDENTIAL", True),
    ("BASIC_AUTH", True),
    ("AUTH_HEADER", True),
    ("SESSION_COOKIE", True),
    ("COOKIE_JAR", True),
    ("FLASK_SESSION", True),
    ("SENTRY_DSN", True),
    ("SSH_PRIVATE_KEY", True),
    ("PRIVATE_KEY_PATH", True),
    ("JWT-TOKEN", True),
    # traps: not secrets
    ("PWD", False),
    ("OLDPWD", False),
    ("PUBLIC_KEY", False),
    ("SSH_PUBLIC_KEY", False),
    ("KEYBOARD", False),
    ("KEYBOARD_LAYOUT", False),
    ("PASSENGER", False),
    ("PASSENGER_COUNT", False),
    ("MONKEY", False),
    ("KEY", False),
    ("AUTHOR", False),
    ("TOKENIZER_PATH", False),
    ("BYPASS_CACHE", False),
    ("DATABASE_URL", False),
    ("RABBITMQ_URL", False),
    ("PYTHONPATH", False),
    ("HOME", False),
    ("SECRETARY_NAME", False),
    ("KEY_PREFIX", False),
    ("NOX_CURRENT_SESSION", False),  # "worker" under `nox -s worker`: every "worker" became ***
    ("DESKTOP_SESSION", False),
    ("XDG_SESSION_TYPE", False),
    ("DBUS_SESSION_BUS_ADDRESS", False),
]


@pytest.mark.parametrize(("key", "secret"), KEYS, ids=[key for key, _ in KEYS])
def test_key_classification(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_declared_keys_are_secret_whatever_their_name() -> None:
    assert is_secret_key("DEMO", declared=["DEMO"])
    assert not is_secret_key("DEMO", declared=["OTHER"])


URLS = [
    ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
    ("postgresql://app:hunter22@db:5432/app", "postgresql://app:***@db:5432/app"),
    ("redis://:s3cret@localhost:6379/0", "redis://:***@localhost:6379/0"),
    ("https://user:p%40ss@example.com/x", "https://user:***@example.com/x"),
    ("amqp://guest@host/", "amqp://guest@host/"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ("http://host:8080/path", "http://host:8080/path"),
    (
        "amqp://a:one1@h1/,amqp://b:two2@h2/",
        "amqp://a:***@h1/,amqp://b:***@h2/",
    ),
    # Passwords pasted unencoded: everything up to the last "@" is the password.
    ("postgres://app:pw/s3cr3t@db:5432/app", "postgres://app:***@db:5432/app"),
    ("postgres://app:pw?s3cr3t@db/app?sslmode=require", "postgres://app:***@db/app?sslmode=require"),
    ("postgres://app:pw#s3cr3t@db/app", "postgres://app:***@db/app"),
    ("postgres://app:pw@s3cr3t@db/app", "postgres://app:***@db/app"),
    ("url=postgres://app:a/b?c#d@e@db/app done", "url=postgres://app:***@db/app done"),
]


@pytest.mark.parametrize(("url", "masked"), URLS, ids=[u for u, _ in URLS])
def test_url_credentials_are_masked_keeping_user_and_host(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_value("RABBITMQ_URL", url) == masked


def test_mask_value() -> None:
    assert mask_value("DB_PASSWORD", "hunter22") == MASK
    assert mask_value("GREETING", "hello") == "hello"
    assert mask_value("DB_PASSWORD", "") == ""  # empty reveals nothing and is worth seeing
    assert mask_value("X", "plain", declared=["X"]) == MASK
    # Well-known token shapes are masked whatever the key is called.
    assert mask_value("SOMETHING", "ghp_abcdefghijklmnopqrstuvwxyz0123456789") == MASK


SENTINEL = "s3nt1nel-'quoted' \"double\" &=/+"
MULTILINE = "-----BEGIN KEY-----\nline-one-secret\nline-two-secret\n-----END KEY-----"


def _masker() -> Masker:
    env = CanonicalEnv(
        root="/p",
        fingerprint="f",
        variables={
            "API_TOKEN": SENTINEL,
            "CERT": MULTILINE,
            "RABBITMQ_URL": "amqp://guest:brokerpw@localhost:5672/",
            "GREETING": "hello world",
            "SHORT_PASSWORD": "abc",
        },
        secret=["CERT"],
    )
    return Masker.from_env(env)


@pytest.mark.parametrize(
    ("form", "text"),
    [
        ("raw", SENTINEL),
        ("url-encoded", quote(SENTINEL, safe="")),
        ("json-escaped", json.dumps(SENTINEL)[1:-1]),
        ("shell-escaped", SENTINEL.replace("'", "'\\''")),
        ("base64", base64.b64encode(SENTINEL.encode()).decode()),
        ("multiline-whole", MULTILINE),
        ("multiline-line", "line-two-secret"),
        ("url-password", "brokerpw"),
    ],
)
def test_masker_redacts_every_form(form: str, text: str) -> None:
    masker = _masker()
    out = masker.mask(f"header: {text} :trailer")
    assert out.startswith("header: ") and out.endswith(" :trailer")
    assert MASK in out
    assert_no_secret(out, text)


def test_masker_leaves_other_text_and_short_values_alone() -> None:
    masker = _masker()
    assert masker.mask("hello world, abc") == "hello world, abc"


def test_for_logs_masks_short_secrets_as_whole_words_only() -> None:
    masker = Masker.for_logs({"DB_PASSWORD": "k9z", "DEBUG_TOKEN": "1", "NAME": "k9z"})
    assert masker.mask("password k9z rejected; k9zone (1 try)") == "password *** rejected; k9zone (1 try)"
    assert Masker.from_variables({"DB_PASSWORD": "k9z"}).mask("password k9z") == "password k9z"


def test_masker_repr_shows_no_secret() -> None:
    assert_no_secret(repr(_masker()), SENTINEL)


def test_masker_whole_json_document() -> None:
    masker = _masker()
    text = json.dumps({"API_TOKEN": SENTINEL, "CERT": MULTILINE})
    out = masker.mask(text)
    assert_no_secret(out, SENTINEL)
    assert "line-one-secret" not in out
    assert json.loads(out)["API_TOKEN"] == MASK


def test_assert_no_secret_catches_base64() -> None:
    with pytest.raises(AssertionError, match="base64"):
        assert_no_secret(base64.b64encode(b"topsecret").decode(), "topsecret")


def test_for_logs_masks_the_password_of_any_url_a_program_prints() -> None:
    """A task prints a URL it built from a settings file: its password is in no variable."""
    masker = Masker.for_logs({"DATABASE_URL": "postgres://bob:hunter22@db/app"})
    line = "dsn postgres://bob:hunter22@db/app | literal url: https://al:otherpass99@h.invalid/x\n"
    assert masker.mask(line) == "dsn postgres://bob:***@db/app | literal url: https://al:***@h.invalid/x\n"


def test_a_url_password_that_is_its_user_name_is_masked_in_the_url_only() -> None:
    """postgres:postgres: the user name shows the password anyway; masking the word
    everywhere made `postgresql://` read `***ql://` and devenv's messages unreadable."""
    variables = {"DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:5432/app"}
    assert mask_value("DATABASE_URL", variables["DATABASE_URL"]) == (
        "postgresql://postgres:***@127.0.0.1:5432/app"
    )
    masker = Masker.for_logs(variables)
    line = 'check must be one of "amqp", "redis", "postgres"; see django/db/backends/postgresql/base.py'
    assert masker.mask(line) == line
    # Another user's password is still masked wherever it appears.
    other = Masker.for_logs({"DATABASE_URL": "postgresql://app:postgres@127.0.0.1/app"})
    assert other.mask("connecting with postgres") == "connecting with ***"
