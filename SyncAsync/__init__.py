"""Two web servers, sync and async, serving the same small service from one shared core."""
