"""Which variables are secret, and masking them in everything devenv shows or logs.

Keys are classified by explicit `[env].secret` plus whole-token name heuristics (PASSWORD,
TOKEN, ...), and a value with a well-known credential prefix is secret whatever its key;
credentials inside URLs are masked in any variable. `Masker` redacts every secret value from
free text, in the encodings a value takes on its way into logs (URL-, JSON-, shell-quoted,
base64), since a program rarely prints a secret exactly as it was set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from devenv.environment import CanonicalEnv
from devenv.records import dataclass, field

MASK = "***"

#: Secret values shorter than this are not masked: masking "1" or "true" mangles all output
#: (FlowSpec and cuenv use a minimum length for the same reason).
MIN_MASKED_LENGTH = 4

#: Shorter secrets are still masked in a process's own output when they stand as a word
#: (`Masker.for_logs`); a one-character value ("1", "y") is a flag, masking it would hide
#: every such digit in a log.
MIN_WORD_LENGTH = 2

#: A key is secret when any of its `_`-separated tokens is one of these (whole tokens only:
#: PASSENGER, KEYBOARD and MONKEY are not secrets).
SECRET_TOKENS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PASS",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
        "COOKIE",
        "SESSION",
        "DSN",
    }
)

#: Well-known variables that session managers and tools set, whose names hold a secret token
#: but whose values are names, not credentials. Masking them would hide ordinary words:
#: under `nox -s worker` NOX_CURRENT_SESSION is "worker", on a desktop DESKTOP_SESSION is
#: "ubuntu", and every such word in a log or message would turn into ***.
PUBLIC_KEYS = frozenset(
    {
        "NOX_CURRENT_SESSION",
        "DESKTOP_SESSION",
        "SESSION_MANAGER",
        "DBUS_SESSION_BUS_ADDRESS",
        "XDG_SESSION_ID",
        "XDG_SESSION_TYPE",
        "XDG_SESSION_CLASS",
        "XDG_SESSION_DESKTOP",
        "XDG_SESSION_PATH",
        "GDMSESSION",
    }
)

#: `scheme://user:PASSWORD@host`: only the password is masked, as the Azure Pipelines agent
#: does (UrlSecretPattern); the user name and host stay readable for debugging.
# The password runs to the LAST "@" before the next whitespace, and may hold "/", "?", "#"
# and "@": people paste such passwords unencoded, and a driver that splits at the last "@"
# (as SQLAlchemy and most DSN parsers do) reads them whole. Masking a little too much (a
# port and path before an "@" in the path) is the safe side of that ambiguity. It stops
# where another URL begins (`amqp://a:one@h1/,amqp://b:two@h2/`).
_URL_PASSWORD = re.compile(
    r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)"
    r"(?P<password>(?:(?![A-Za-z][A-Za-z0-9+.-]*://)\S)+)(?=@)"
)

#: Values that are credentials whatever their key is called: well-known token prefixes
#: (GitHub, Slack, AWS access keys, OpenAI-style `sk-`) and PEM private keys.
_TOKEN_VALUE = re.compile(
    r"^(?:ghp_|gho_|ghs_|github_pat_|xox[abposr]-|AKIA[0-9A-Z]{12}|sk-[A-Za-z0-9_-]{16})"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)


def _tokens(key: str) -> list[str]:
    return [token for token in re.split(r"[_\-]", key.upper()) if token]


def is_secret_key(key: str, declared: Iterable[str] = ()) -> bool:
    """True when `key` is listed in [env].secret or its name says it holds a credential."""
    if key in declared:
        return True
    if key in PUBLIC_KEYS:
        return False
    tokens = _tokens(key)
    if any(token in SECRET_TOKENS for token in tokens):
        return True
    if "PRIVATE" in tokens and "KEY" in tokens:
        return True
    # `*_KEY` covers API_KEY, ACCESS_KEY, SECRET_KEY...; a public key is published on purpose.
    return len(tokens) >= 2 and tokens[-1] == "KEY" and tokens[-2] != "PUBLIC"


def url_passwords(value: str) -> list[str]:
    """The password parts of every `scheme://user:password@` URL inside `value`."""
    return [match.group("password") for match in _URL_PASSWORD.finditer(value)]


def mask_url(value: str) -> str:
    """`value` with the password of every URL in it replaced by `***`."""
    return _URL_PASSWORD.sub(lambda match: match.group("prefix") + MASK, value)


def looks_like_token(value: str) -> bool:
    """True when `value` has the shape of a well-known credential (GitHub, Slack, AWS, keys)."""
    return _TOKEN_VALUE.search(value) is not None


def mask_value(key: str, value: str, declared: Iterable[str] = ()) -> str:
    """How `value` of `key` is shown to humans: `***` for secrets, URL passwords masked."""
    if not value:
        return value  # an empty secret reveals nothing, and "empty" is worth seeing
    if is_secret_key(key, declared) or looks_like_token(value):
        return MASK
    return mask_url(value)


def secret_values(variables: Mapping[str, str], declared: Iterable[str] = ()) -> list[str]:
    """Every value in `variables` that must never be shown: secret keys' values, URL passwords.

    A URL password that is its URL's own user name (`guest:guest`, `postgres:postgres`, the
    defaults of RabbitMQ's and PostgreSQL's images) is masked inside the URL (`mask_url`) but
    not wherever the word appears: the user name shows it anyway, and masking `postgres`
    everywhere turned `postgresql://` and devenv's own messages into `***ql://`."""
    declared = tuple(declared)
    found: list[str] = []
    for key, value in variables.items():
        if is_secret_key(key, declared) or looks_like_token(value):
            found.append(value)
        for match in _URL_PASSWORD.finditer(value):
            password = match.group("password")
            user = match.group("prefix").rpartition("://")[2][:-1]
            if password == user:
                continue
            from urllib.parse import unquote  # only for a URL with a password: urllib is ~0.3x T0

            found += [password, unquote(password)]
    return [value for value in dict.fromkeys(found) if value]


def encoded_forms(secret: str) -> list[str]:
    """`secret` as it may appear in text: raw, per line, URL-, JSON-, shell- and base64-encoded."""
    import base64
    from urllib.parse import quote, quote_plus

    forms = [secret]
    forms += [line for line in secret.splitlines() if line.strip()]
    forms += [quote(secret, safe=""), quote_plus(secret, safe="")]
    forms += [json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]]
    forms.append(secret.replace("'", "'\\''"))  # inside sh single quotes (renderers/posix.py)
    raw = secret.encode("utf-8", "surrogateescape")
    encoded = base64.b64encode(raw).decode("ascii")
    forms += [encoded, encoded.rstrip("=")]
    return list(dict.fromkeys(forms))


@dataclass(frozen=True, kw_only=True, slots=True)
class Masker:
    """Replaces every registered secret, in each of its encoded forms, with `***`."""

    pattern: re.Pattern[str] | None = field(default=None, repr=False)
    #: Also mask the password of every `scheme://user:password@` URL in the text, whether or
    #: not it is a value devenv knows (a program's output prints URLs of its own making).
    urls: bool = False

    @classmethod
    def from_values(cls, secrets: Iterable[str], *, words: Iterable[str] = ()) -> Masker:
        """A masker for the given secret values in each of their encoded forms (values
        shorter than MIN_MASKED_LENGTH are ignored), and for `words` where they stand whole."""
        forms = {
            form
            for secret in secrets
            if len(secret) >= MIN_MASKED_LENGTH
            for form in encoded_forms(secret)
            if len(form) >= MIN_MASKED_LENGTH
        }
        # Longest first, so a value is replaced whole before one of its lines could be.
        alternatives = [re.escape(form) for form in sorted(forms, key=lambda f: (-len(f), f))]
        if words := sorted(set(words), key=lambda w: (-len(w), w)):
            # Whole words only: "k9z" is masked in "password k9z rejected", not inside "k9zone".
            alternation = "|".join(re.escape(word) for word in words)
            alternatives.append(rf"(?<![A-Za-z0-9_])(?:{alternation})(?![A-Za-z0-9_])")
        return cls(pattern=re.compile("|".join(alternatives)) if alternatives else None)

    @classmethod
    def from_variables(
        cls, variables: Mapping[str, str], declared: Iterable[str] = (), *, short_words: bool = False
    ) -> Masker:
        """A masker for every secret among `variables` (see `secret_values`).

        With `short_words`, secrets too short to mask everywhere (2 or 3 characters under a
        key that says secret) are masked where they stand as a whole word.
        """
        declared = tuple(declared)
        words = [
            value
            for key, value in variables.items()
            if MIN_WORD_LENGTH <= len(value) < MIN_MASKED_LENGTH and is_secret_key(key, declared)
        ]
        return cls.from_values(secret_values(variables, declared), words=words if short_words else ())

    @classmethod
    def for_logs(cls, variables: Mapping[str, str], declared: Iterable[str] = ()) -> Masker:
        """A masker for a process's own output (log tails in errors, pytest report sections).

        A program prints its credentials in its own words, so even a short secret is masked
        there (as a whole word), and so is the password of any URL it prints (one it read
        from a settings file, not from the environment); devenv's own messages, full of
        counts and flags, are not.
        """
        masker = cls.from_variables(variables, declared, short_words=True)
        return cls(pattern=masker.pattern, urls=True)

    @classmethod
    def from_env(cls, env: CanonicalEnv) -> Masker:
        """A masker for a CanonicalEnv (its variables and its declared secret keys)."""
        return cls.from_variables(env.variables, env.secret)

    def mask(self, text: str) -> str:
        """`text` with every registered secret form (and with `urls`, every URL password)
        replaced by `***`."""
        if self.pattern is not None:
            text = self.pattern.sub(MASK, text)
        return mask_url(text) if self.urls and "://" in text else text
