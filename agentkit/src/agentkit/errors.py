"""agentkit's errors; `str(error)` is the whole message a user needs, and never holds a key."""

from __future__ import annotations


class AgentError(Exception):
    """Base class for every failure of an agent run."""


class UnknownProviderError(AgentError):
    """The requested provider name is not one agentkit knows."""


class NoLLMKeyError(AgentError):
    """The `llm` provider was chosen but no API key is configured."""


class ProviderError(AgentError):
    """The provider was reached (or tried) and did not produce an answer."""
