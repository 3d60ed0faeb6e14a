"""Production serving: the command that starts the server, the waitress layer and the access log.

Waitress is the production server (see `cli.py`). It is used as its own `create_server` uses it, except for
the few behaviours below, which it offers no setting for; each is a subclass changing one thing, and each
override says which waitress behaviour it replaces and why. `tests/audio/test_waitress_internals.py` checks
that every waitress name used here still has the shape relied on, so a waitress release that changes them
fails loudly there rather than quietly here; pyproject pins waitress below its next major version.

- `adjustments.ServingAdjustments`: waitress's settings with ours beside them (head deadline, per-address cap,
  spool folder, access log, streaming bodies). Waitress hands its adjustments to every server, channel and
  parser it makes, so ours reach them the same way: per server, never process-wide.
- `parsing.JSONErrorTask`: waitress's own error answers (413, 400, 431, ...) as JSON, like the application's.
- `parsing.SpoolingParser`: a full disk while spooling is a 507; an unparsable head and ambiguous framing are
  400s; bodies are spooled in the folder chosen (`SpoolBuffer`), not in the system's temporary folder, or
  written through a `BodyPipe` (`stream_body`).
- `connections.GuardedChannel`: request bodies handed to the application as they arrive (`streaming.BodyPipe`,
  at most `streaming_bodies` at once; waitress hands a request over only once its body is spooled whole); a
  lingering close after an early answer, bounded in time and bytes; a deadline for the request head; an idle
  timeout for streaming bodies; a cap on connections per client address; an access-log line for waitress's
  own answers.
- `connections.StreamingTask`: an answer given before its streamed body arrived whole closes the connection.
- `connections.StreamEndingDispatcher`: when the server stops, bodies still streaming fail first, so their
  uploads are refused and cleaned up rather than left waiting.
- `connections.RoomMakingServer`: at the connection limit, an idle or trickling connection makes room for a
  newcomer.
"""
