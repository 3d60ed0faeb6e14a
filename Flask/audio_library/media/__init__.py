"""What a file is: audio detection and duration, the container parsers, tags and covers."""
