"""The users file and `server.py add-user`: the format, what is refused, atomic writes."""

import io
import subprocess
from pathlib import Path

import pytest
from audio_library.access.auth import Credentials, Users
from audio_library.access.users import UsersError, add_user, add_user_command, parse_users, read_users
from werkzeug.security import check_password_hash, generate_password_hash

from devtools.servers import run_audio_server_to_exit
from tests.users_files import QUICK_METHOD, quick_hash


def run_add_user(*args: str, password_input: str) -> subprocess.CompletedProcess[str]:
    """Run `server.py add-user ARGS` with this standard input, as an operator would."""
    return run_audio_server_to_exit("add-user", *args, stdin_text=password_input)


def test_add_user_writes_a_salted_scrypt_hash_readable_by_the_owner_only(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    result = run_add_user("alice", "--users", str(users_file), password_input="correct horse\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"server.py add-user: added alice in {users_file}.\n"
    assert "correct horse" not in result.stdout + result.stderr
    name, _, password_hash = users_file.read_text().strip().partition(":")
    assert name == "alice"
    assert password_hash.startswith("scrypt:32768:8:1$")
    assert check_password_hash(password_hash, "correct horse")
    assert users_file.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["users"]  # no temporary file left


def test_add_user_keeps_the_others_and_changes_a_password(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    users_file.write_text(f"alice:{quick_hash('one')}\nbob:{quick_hash('two')}\n")
    result = run_add_user("alice", "--users", str(users_file), password_input="three\n")
    assert result.returncode == 0
    assert "changed the password of alice" in result.stderr
    users = read_users(users_file)
    assert list(users) == ["alice", "bob"]
    assert check_password_hash(users["alice"], "three")
    assert check_password_hash(users["bob"], "two")


def test_add_user_keeps_comments_order_and_the_files_permissions(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    bob, carol = quick_hash("two"), quick_hash("three")
    users_file.write_text(f"# who may write\nbob:{bob}\n\n# carol: the archivist\ncarol:{carol}")
    users_file.chmod(0o640)
    assert not add_user(users_file, "bob", "new")
    assert add_user(users_file, "dora", "four")
    lines = users_file.read_text().splitlines()
    assert lines[0] == "# who may write"
    assert lines[1].startswith("bob:scrypt:")
    assert lines[2:5] == ["", "# carol: the archivist", f"carol:{carol}"]
    assert lines[5].startswith("dora:scrypt:")
    assert len(lines) == 6
    assert users_file.stat().st_mode & 0o777 == 0o640


def test_two_users_with_one_password_get_different_salts(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    add_user(users_file, "alice", "same")
    add_user(users_file, "bob", "same")
    users = read_users(users_file)
    assert users["alice"] != users["bob"]


@pytest.mark.parametrize(
    ("args", "password_input", "message"),
    [
        (["a:b"], "pw\n", "cannot contain a colon"),
        ([" alice"], "pw\n", "start with # or a space"),
        (["alice"], "\n", "the password is empty"),
        (["alice"], "", "the password is empty"),
        (["alice"], "x" * 1025 + "\n", "at most 1024 characters"),
    ],
)
def test_add_user_refuses_what_cannot_sign_in_and_writes_nothing(
    tmp_path: Path, args: list[str], password_input: str, message: str
) -> None:
    users_file = tmp_path / "users"
    users_file.write_text(f"carol:{quick_hash('kept')}\n")
    before = users_file.read_bytes()
    stderr = io.StringIO()
    assert add_user_command([*args, "--users", str(users_file)], io.StringIO(password_input), stderr) == 2
    assert message in stderr.getvalue()
    assert stderr.getvalue().endswith("nothing was written.\n")
    assert users_file.read_bytes() == before


def test_add_user_takes_the_file_from_the_environment_or_says_it_needs_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = io.StringIO()
    monkeypatch.delenv("AUDIO_LIBRARY_USERS", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        add_user_command(["alice"], io.StringIO("pw\n"), stderr)
    assert exit_info.value.code == 2
    users_file = tmp_path / "from-env"
    monkeypatch.setenv("AUDIO_LIBRARY_USERS", str(users_file))
    assert add_user_command(["alice"], io.StringIO("pw\n"), stderr) == 0
    assert list(read_users(users_file)) == ["alice"]


def test_add_user_leaves_a_malformed_file_alone(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    users_file.write_text("alice\n")
    stderr = io.StringIO()
    assert add_user_command(["bob", "--users", str(users_file)], io.StringIO("pw\n"), stderr) == 2
    assert f"{users_file}, line 1: the line is not user:hash" in stderr.getvalue()
    assert users_file.read_text() == "alice\n"


GOOD = quick_hash("pw").replace(QUICK_METHOD, "scrypt:32768:8:1")  # well-formed; never checked


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice\n", "line 1: the line is not user:hash"),
        (f"# users\n\nalice:{GOOD}\nalice:{GOOD}\n", "line 4: the user alice is there twice"),
        ("alice:plain-password\n", "not of the form method$salt$hex-digest"),
        (f"alice:{GOOD.replace('scrypt:32768', 'scrypt:1048576')}\n", "over 64 MiB per check"),
        (f"alice:{GOOD.replace('scrypt:32768', 'scrypt:1000')}\n", "n a power of 2"),
        (f"alice:{GOOD.replace('scrypt:32768:8:1', 'md5')}\n", "neither scrypt"),
        (f"alice:{GOOD.replace('scrypt:32768:8:1', 'pbkdf2:sha256:99999999')}\n", "1 to 2000000 iterations"),
        (f"alice:{GOOD.replace('scrypt:32768:8:1', 'pbkdf2:md5:1000')}\n", "pbkdf2 takes sha256 or sha512"),
        (f"\x01x:{GOOD}\n", "cannot contain a colon or control characters"),
    ],
)
def test_a_malformed_users_file_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(UsersError, match="users, line") as error:
        parse_users(text, "users")
    assert message in str(error.value)


def test_pbkdf2_hashes_are_accepted_too() -> None:
    password_hash = generate_password_hash("pw", method="pbkdf2:sha256:100000")
    users = Users(parse_users(f"# a comment\nbob:{password_hash}\n", "users"))
    assert users.verify(Credentials("bob", "pw"), "127.0.0.1").verified
    assert not users.verify(Credentials("bob", "wrong"), "127.0.0.1").verified
