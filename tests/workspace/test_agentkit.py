"""agentkit: providers, the exact no-key message, and `llm` against a real local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agentkit import Agent, NoLLMKeyError, ProviderError, UnknownProviderError

KEY = "sk-test-SECRET-do-not-print"


@dataclass
class FakeLLM:
    """What the tiny server answers and what it received."""

    url: str
    status: int = 200
    body: bytes = b""
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Set by the test's teardown so a handler told to hang returns and the server can stop.
    release: threading.Event = field(default_factory=threading.Event)
    hang: bool = False


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    """An OpenAI-compatible server on 127.0.0.1, an ephemeral port, stopped after the test."""
    fake = FakeLLM(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            fake.requests.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "json": json.loads(self.rfile.read(length)),
                }
            )
            if fake.hang:
                # Never answer; the client has given up by the time this returns.
                fake.release.wait(timeout=10)  # bounded even if teardown never sets it
                return
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(fake.body)))
            self.end_headers()
            self.wfile.write(fake.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def completion(content: str) -> bytes:
    """An OpenAI-style chat completion body."""
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


def llm_env(base_url: str, **extra: str) -> dict[str, str]:
    """An explicit environment for the llm provider (never the test process's own)."""
    return {"LLM_API_KEY": KEY, "LLM_BASE_URL": base_url, **extra}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_echo_returns_the_prompt() -> None:
    assert Agent("echo").run("hello there", {}) == "echo: hello there"


@pytest.mark.parametrize("env", [{}, {"LLM_API_KEY": ""}, {"LLM_API_KEY": "  "}], ids=str)
def test_llm_without_key_says_exactly_how_to_fix_it(env: dict[str, str]) -> None:
    with pytest.raises(NoLLMKeyError) as excinfo:
        Agent().run("hi", env)
    assert str(excinfo.value) == ("no LLM key configured: set LLM_API_KEY in .env (or use --provider echo)")


def test_llm_is_the_default_provider() -> None:
    assert Agent().provider_name == "llm"


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProviderError, match=r"unknown provider 'gpt': .*echo, llm"):
        Agent("gpt")


def test_llm_posts_a_chat_request_and_returns_the_answer(llm_server: FakeLLM) -> None:
    llm_server.body = completion("42")
    answer = Agent("llm").run("meaning of life?", llm_env(llm_server.url, LLM_MODEL="tiny"))
    assert answer == "42"
    [request] = llm_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {KEY}"
    assert request["json"] == {
        "model": "tiny",
        "messages": [{"role": "user", "content": "meaning of life?"}],
    }


def test_llm_http_error_is_an_agent_error_without_the_key(llm_server: FakeLLM) -> None:
    llm_server.status = 401
    llm_server.body = b'{"error": {"message": "invalid api key"}}'
    with pytest.raises(ProviderError) as excinfo:
        Agent("llm").run("hi", llm_env(llm_server.url))
    message = str(excinfo.value)
    assert "HTTP 401" in message and "invalid api key" in message
    assert KEY not in message


def test_llm_malformed_answer_is_an_agent_error(llm_server: FakeLLM) -> None:
    llm_server.body = b"<html>not json</html>"
    with pytest.raises(ProviderError, match="unexpected response from LLM"):
        Agent("llm").run("hi", llm_env(llm_server.url))


def test_llm_timeout_names_the_setting(llm_server: FakeLLM) -> None:
    llm_server.hang = True
    with pytest.raises(ProviderError, match=r"did not answer within 0\.2 s .*LLM_TIMEOUT"):
        Agent("llm").run("hi", llm_env(llm_server.url, LLM_TIMEOUT="0.2"))


def test_llm_unreachable_is_an_agent_error() -> None:
    url = f"http://user:pw@127.0.0.1:{closed_port()}/v1"
    with pytest.raises(ProviderError, match="could not reach LLM") as excinfo:
        Agent("llm").run("hi", llm_env(url))
    message = str(excinfo.value)
    assert "user:***@127.0.0.1" in message and "pw@" not in message
    assert KEY not in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LLM_BASE_URL": "file:///etc/passwd"}, "must be an http"),
        ({"LLM_TIMEOUT": "soon"}, "LLM_TIMEOUT must be a positive number"),
        ({"LLM_TIMEOUT": "0"}, "LLM_TIMEOUT must be a positive number"),
    ],
    ids=["file-url", "timeout-text", "timeout-zero"],
)
def test_llm_bad_settings_are_clear_errors(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ProviderError, match=expected):
        Agent("llm").run("hi", {"LLM_API_KEY": KEY, **env})
