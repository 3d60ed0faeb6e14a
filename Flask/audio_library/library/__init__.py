"""The library folder: storing, naming, listing and remembering its audio files."""
