"""The providers an agent can use: `echo` (offline) and `llm` (an OpenAI-compatible HTTP API)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agentkit.errors import NoLLMKeyError, ProviderError

DEFAULT_PROVIDER = "llm"
DEFAULT_LLM_BASE_URL = "https://api.openai.com/v1"
DEFAULT_LLM_MODEL = "gpt-4o-mini"
DEFAULT_LLM_TIMEOUT = 20.0

NO_KEY_MESSAGE = "no LLM key configured: set LLM_API_KEY in .env (or use --provider echo)"

# How much of an HTTP error body goes into the error message: enough for the API's reason,
# not a whole HTML error page.
_ERROR_BODY_CHARS = 200


class Provider(Protocol):
    """Something that turns a prompt into an answer."""

    @property
    def name(self) -> str:
        """The provider's name as users select it."""
        ...

    def complete(self, prompt: str) -> str:
        """Return the answer to `prompt` or raise an `AgentError`."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class EchoProvider:
    """Answers with the prompt itself; needs no configuration or network."""

    name: str = "echo"

    def complete(self, prompt: str) -> str:
        """Return `echo: <prompt>`."""
        return f"echo: {prompt}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EchoProvider:
        """Build the provider; `echo` reads nothing from the environment."""
        return cls()


@dataclass(frozen=True, kw_only=True, slots=True)
class LLMProvider:
    """Sends the prompt as one user message to an OpenAI-compatible `/chat/completions` API."""

    api_key: str
    base_url: str = DEFAULT_LLM_BASE_URL
    model: str = DEFAULT_LLM_MODEL
    timeout: float = DEFAULT_LLM_TIMEOUT
    name: str = "llm"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LLMProvider:
        """Read LLM_API_KEY (required), LLM_BASE_URL, LLM_MODEL and LLM_TIMEOUT."""
        api_key = environ.get("LLM_API_KEY", "").strip()
        if not api_key:
            raise NoLLMKeyError(NO_KEY_MESSAGE)
        base_url = environ.get("LLM_BASE_URL", "").strip() or DEFAULT_LLM_BASE_URL
        scheme = urllib.parse.urlsplit(base_url).scheme
        # urllib also opens file:// and ftp:// URLs; only an HTTP API makes sense here.
        if scheme not in ("http", "https"):
            raise ProviderError(
                f"LLM_BASE_URL must be an http(s) URL, got {_mask(base_url)!r}: fix it in .env"
            )
        raw_timeout = environ.get("LLM_TIMEOUT", "").strip()
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_LLM_TIMEOUT
        except ValueError:
            timeout = -1.0
        if not timeout > 0:
            raise ProviderError(f"LLM_TIMEOUT must be a positive number of seconds, got {raw_timeout!r}")
        return cls(
            api_key=api_key,
            base_url=base_url,
            model=environ.get("LLM_MODEL", "").strip() or DEFAULT_LLM_MODEL,
            timeout=timeout,
        )

    @property
    def endpoint(self) -> str:
        """The chat-completions URL requests go to."""
        return self.base_url.rstrip("/") + "/chat/completions"

    def complete(self, prompt: str) -> str:
        """POST the prompt and return the first choice's message content."""
        where = _mask(self.endpoint)
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}]}).encode()
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _short(exc.read().decode("utf-8", "replace"))
            raise ProviderError(
                f"LLM request to {where} failed: HTTP {exc.code} {exc.reason}"
                + (f": {detail}" if detail else "")
            ) from None
        except TimeoutError:
            raise ProviderError(self._timeout_message(where)) from None
        except urllib.error.URLError as exc:
            # A timeout while connecting arrives wrapped in URLError, one while reading bare.
            if isinstance(exc.reason, TimeoutError):
                raise ProviderError(self._timeout_message(where)) from None
            raise ProviderError(
                f"could not reach LLM at {where}: {exc.reason} (check LLM_BASE_URL)"
            ) from None
        except OSError as exc:
            raise ProviderError(f"LLM request to {where} failed: {exc}") from None
        return _content(raw, where)

    def _timeout_message(self, where: str) -> str:
        """Say which request timed out and which setting to change."""
        return (
            f"LLM at {where} did not answer within {self.timeout:g} s "
            "(raise LLM_TIMEOUT or check LLM_BASE_URL)"
        )


def _content(raw: bytes, where: str) -> str:
    """Pull `choices[0].message.content` out of a response body."""
    try:
        payload: Any = json.loads(raw)
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderError(
            f"unexpected response from LLM at {where}: {_short(raw.decode('utf-8', 'replace'))}"
        ) from None
    if not isinstance(content, str):
        raise ProviderError(f"unexpected response from LLM at {where}: content is not text")
    return content


def _short(text: str) -> str:
    """Collapse whitespace and cut `text` so it fits in a one-line error."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _ERROR_BODY_CHARS else flat[:_ERROR_BODY_CHARS] + "..."


def _mask(url: str) -> str:
    """Hide a password embedded in `url`."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


PROVIDERS: dict[str, Callable[[Mapping[str, str]], Provider]] = {
    "echo": EchoProvider.from_environ,
    "llm": LLMProvider.from_environ,
}
"""Known provider names, each mapped to the function that builds it from an environment."""
