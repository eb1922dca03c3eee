"""agentkit: a small agent that answers a prompt through a named provider (`echo` or `llm`)."""

from agentkit.agent import Agent
from agentkit.errors import AgentError, NoLLMKeyError, ProviderError, UnknownProviderError
from agentkit.providers import DEFAULT_PROVIDER, PROVIDERS, Provider

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS",
    "Agent",
    "AgentError",
    "NoLLMKeyError",
    "Provider",
    "ProviderError",
    "UnknownProviderError",
]
