"""Running tasks: `execution` does one task's work, `worker` is the Dramatiq entry point."""
