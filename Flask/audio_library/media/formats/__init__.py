"""Parsers that confirm there is audio inside each container format libmagic names."""
