"""Hypothesis strategies that damage the fixture corpus: bytes overwritten, and the end cut off."""

from collections.abc import Sequence

from hypothesis import strategies as st

from devtools.corpus import FIXTURES_DIR


def _damage(name: str, changes: list[tuple[int, int]], cut: int) -> tuple[str, bytes]:
    content = bytearray((FIXTURES_DIR / name).read_bytes())
    for position, value in changes:
        content[position % len(content)] = value
    return name, bytes(content[: len(content) - cut % len(content)])


def damaged_fixtures(names: Sequence[str]) -> st.SearchStrategy[tuple[str, bytes]]:
    """(name, bytes) of one of the named fixtures with up to 8 bytes overwritten and its end cut off."""
    return st.builds(
        _damage,
        st.sampled_from(sorted(names)),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
        st.integers(min_value=0),
    )
