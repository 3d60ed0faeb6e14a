"""Production serving: the command that starts the server, the waitress layer and the access log."""
