"""Pure image helpers shared by engines, exporters, the CLI and the server."""
