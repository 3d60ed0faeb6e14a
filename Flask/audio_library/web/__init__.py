"""The web face of the library: the JSON API, file downloads, the page, uploads and every error answer."""
