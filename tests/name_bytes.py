"""File names as bytes on disk, for the tests of how names are listed: any a folder can hold, and the issue's."""

from hypothesis import strategies as st


MAX_NAME_BYTES = 255  # NAME_MAX of the file systems the library runs on

# Six names copied into one folder that were once listed as four: Latin-1, a literal "\xe9", U+FFFD,
# a cut UTF-8 sequence, a literal "\xc3", and a name with two backslashes.
ISSUE_NAMES = (
    b"caf\xe9.wav",
    b"caf\\xe9.wav",
    "caf\ufffd.wav".encode(),
    b"caf\xc3.wav",
    b"caf\\xc3.wav",
    b"a\\\\b.wav",
)


def is_file_name(name: bytes) -> bool:
    """True if a folder can hold a visible file of this name."""
    return 0 < len(name) <= MAX_NAME_BYTES and b"/" not in name and b"\0" not in name and not name.startswith(b".")


def with_look_alikes(names: list[bytes]) -> list[bytes]:
    """The names, each followed by the names that would look like it if its bytes that are not UTF-8 were
    shown escaped or replaced: the files a listing scheme most easily confuses with it."""
    found: list[bytes] = []
    for name in names:
        for errors in ("strict", "backslashreplace", "replace"):
            try:
                alike = name.decode(errors=errors).encode()
            except UnicodeDecodeError:
                continue
            if is_file_name(alike) and alike not in found:
                found.append(alike)
        if name not in found:
            found.append(name)
    return found


byte_names = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.text(min_size=1, max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
    # Few distinct bytes: names that differ only in escapes, backslashes and broken sequences meet often.
    st.lists(
        st.sampled_from([b"\\", b"\\xe9", b"x", b"e9", b"\xe9", b"\xc3", b"\xef\xbf\xbd", b"a", b"\x80"]), max_size=8
    ).map(b"".join),
    st.binary(min_size=200, max_size=MAX_NAME_BYTES),
    st.sampled_from([*ISSUE_NAMES, b"caf\x80", b"caf\xe8", b"two\nlines", b" ", b"%41", b"?#"]),
).filter(is_file_name)
