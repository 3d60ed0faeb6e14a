"""How many examples a property test of a cheap, pure function runs: enough to find a rare clash in every run."""

from hypothesis import settings


# The names layer once let two files share a listed name in one run of two; at this count a property test of
# names, sorting or parsing finds such a clash every run, and a pure function still costs a few seconds.
MANY_EXAMPLES = settings(max_examples=1500, deadline=None)
