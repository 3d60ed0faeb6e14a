"""The order of names in `screwdriver list`: one key function, `sonic.output.name_sort_key`."""

from hypothesis import given
from hypothesis import strategies as st

from sonic.output import name_sort_key
from tests.examples import MANY_EXAMPLES


def test_digits_that_are_not_decimal_are_sorted_as_text() -> None:
    assert sorted(["²", "Track ²", "1"], key=name_sort_key) == ["1", "Track ²", "²"]


def test_numbers_sort_by_value_and_case_is_ignored() -> None:
    names = ["Track 10", "track 2", "Track 1", "Big", "apple", "a10b", "a9b"]

    assert sorted(names, key=name_sort_key) == ["a9b", "a10b", "apple", "Big", "Track 1", "track 2", "Track 10"]


@MANY_EXAMPLES
@given(st.lists(st.text(max_size=12), max_size=8))
def test_any_names_sort_into_the_same_order_whatever_order_they_came_in(names: list[str]) -> None:
    once = sorted(names, key=name_sort_key)
    backwards = list(reversed(names))

    assert [name_sort_key(name) for name in sorted(backwards, key=name_sort_key)] == [
        name_sort_key(name) for name in once
    ]
    assert sorted(once) == sorted(names)
