"""pytest plugin (registered through the `pytest11` entry point): devenv fixtures.

Imports nothing heavy at plugin import time; the launcher is imported by the fixtures.
"""
