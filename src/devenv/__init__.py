"""devenv: one declared environment (envspec.toml) for every launcher."""

__version__ = "0.1.0"
