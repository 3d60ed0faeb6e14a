"""The application's one Library, as flaskr keeps its database: `init_app` attaches it, `get_library` finds it."""

from pathlib import Path

from flask import Flask, current_app

from audio_library.library.storage import Library


EXTENSION_KEY = "audio_library"


def init_app(app: Flask) -> Library:
    """Open the library folder app.config["LIBRARY_DIR"] for `app`; raises storage.LibraryError if it is unusable."""
    library = Library(Path(app.config["LIBRARY_DIR"]), app.config["TRANSCODES"])
    app.extensions[EXTENSION_KEY] = library
    return library


def get_library(app: Flask | None = None) -> Library:
    """The Library of `app`, by default of the application handling the current request."""
    library: Library = (app or current_app).extensions[EXTENSION_KEY]
    return library
