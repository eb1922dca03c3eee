"""Keys that make programs run code, and whether envspec.toml consents to them.

A `.env` in a cloned repository is input from whoever wrote the repository, and so is a
`--set` pasted from a chat. A few environment variables make ordinary programs run code of
the setter's choosing (bash sources `$BASH_ENV` before `bash -c`, the dynamic loader loads
`$LD_PRELOAD` into every program, Python runs `$PYTHONSTARTUP`...). Those keys come from a
dotenv file or `--set` only when envspec.toml names them in `[env].trusted`; `[vars]` and
`[env].inherit` are envspec.toml itself, so they are trusted already.
"""

from __future__ import annotations

#: Each key and what it makes happen (shown in the refusal and by doctor).
CODE_EXECUTION_KEYS = {
    "BASH_ENV": "bash sources this file before running any script or `bash -c`",
    "ENV": "sh/dash and bash in POSIX mode source this file when interactive",
    "ZDOTDIR": "zsh reads its start-up files (.zshenv...) from this folder",
    "PROMPT_COMMAND": "bash runs it before every prompt",
    "PS4": "bash expands (and runs $(...) in) it for every traced command",
    "LD_PRELOAD": "the dynamic loader loads these libraries into every program",
    "LD_LIBRARY_PATH": "the dynamic loader looks for libraries here first",
    "LD_AUDIT": "the dynamic loader loads these audit libraries into every program",
    "PYTHONSTARTUP": "interactive Python runs this file",
    "PYTHONHOME": "Python loads its standard library from here",
    "PYTHONINSPECT": "Python drops into an interactive prompt after the script",
    "PYTHONBREAKPOINT": "breakpoint() imports and calls this",
    "NODE_OPTIONS": "node takes command-line options (--require, --import) from it",
    "PERL5OPT": "perl takes command-line options (-M) from it",
    "RUBYOPT": "ruby takes command-line options (-r) from it",
    "JAVA_TOOL_OPTIONS": "the JVM takes options (-javaagent) from it",
    "_JAVA_OPTIONS": "the JVM takes options (-javaagent) from it",
    "GIT_SSH_COMMAND": "git runs it to reach remotes",
    "GIT_SSH": "git runs it to reach remotes",
    "GIT_ASKPASS": "git runs it to ask for credentials",
    "SSH_ASKPASS": "ssh runs it to ask for credentials",
    "GIT_CONFIG_PARAMETERS": "git reads configuration from it (core.fsmonitor, core.pager run commands)",
    "GIT_CONFIG_COUNT": "git reads configuration from GIT_CONFIG_KEY_n/VALUE_n",
}

#: Families of keys with the same effect: macOS's loader variables, git's numbered configuration.
CODE_EXECUTION_PREFIXES = {
    "DYLD_": "the macOS dynamic loader loads or looks for libraries as it says",
    "GIT_CONFIG_KEY_": "git reads a configuration key (some run commands) from it",
    "GIT_CONFIG_VALUE_": "git reads a configuration value (some run commands) from it",
}


def runs_code(key: str) -> str | None:
    """Why `key` makes programs run code, or None when it does not."""
    if key in CODE_EXECUTION_KEYS:
        return CODE_EXECUTION_KEYS[key]
    for prefix, why in CODE_EXECUTION_PREFIXES.items():
        if key.startswith(prefix):
            return why
    return None
