"""The `Agent`: one named provider, configured from an environment mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping

from agentkit.errors import UnknownProviderError
from agentkit.providers import DEFAULT_PROVIDER, PROVIDERS, Provider


class Agent:
    """Answers prompts with the provider named at construction."""

    def __init__(self, provider: str = DEFAULT_PROVIDER) -> None:
        """Remember the provider name; fail at once if agentkit does not know it."""
        if provider not in PROVIDERS:
            known = ", ".join(sorted(PROVIDERS))
            raise UnknownProviderError(f"unknown provider {provider!r}: known providers are {known}")
        self.provider_name = provider

    def run(self, prompt: str, environ: Mapping[str, str] | None = None) -> str:
        """Answer `prompt`; configuration is read from `environ` (default: the process env)."""
        # Read the environment per run, not per import: the worker gets its configuration
        # from the environment devenv applied, and tests pass an explicit mapping instead.
        provider: Provider = PROVIDERS[self.provider_name](os.environ if environ is None else environ)
        return provider.complete(prompt)
