"""Bounds on how much of a file the format parsers read or walk, whatever the file says about itself."""

SNIFF_BYTES = 16 * 1024  # what libmagic sees, and how much of an MPEG or ADTS stream must chain unbroken
MAX_CHUNKS = 256  # bound on chunk, box and element walks
