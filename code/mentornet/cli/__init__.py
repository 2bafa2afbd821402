"""Command-line layer: absl flags and the mains of every entry point."""
