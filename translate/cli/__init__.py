"""Command-line entry points: argument parsing only; the work happens in the library."""
