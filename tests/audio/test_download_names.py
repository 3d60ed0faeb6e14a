"""The ASCII fallback name and the Content-Disposition value for downloads."""

import subprocess
from pathlib import Path
from urllib.parse import quote

from audio_library.web.download_names import ascii_download_name, content_disposition
from hypothesis import given
from hypothesis import strategies as st

from devtools.servers import audio_server
from devtools.wav import noise_wav
from tests.examples import MANY_EXAMPLES


def test_cyrillic_is_transliterated_readably() -> None:
    assert ascii_download_name("Песня про зайцев.wav") == "Pesnya pro zaytsev.wav"


def test_header_keeps_the_exact_name() -> None:
    value = content_disposition("Песня.wav", attachment=True)
    assert value == "attachment; filename=\"Pesnya.wav\"; filename*=UTF-8''%D0%9F%D0%B5%D1%81%D0%BD%D1%8F.wav"


@MANY_EXAMPLES
@given(st.text(max_size=80))
def test_any_name_gives_a_safe_non_empty_ascii_name(name: str) -> None:
    result = ascii_download_name(name)
    assert result
    assert result.isascii()
    assert all(" " <= char <= "~" and char not in '"\\/' for char in result)


def test_other_scripts_quotes_and_empty_names() -> None:
    assert ascii_download_name("北京.mp3") == "BeiJing.mp3"
    assert ascii_download_name('"a\\b".mp3') == "ab.mp3"
    assert ascii_download_name("") == "download"
    assert ascii_download_name("   .wav") == "download.wav"


def test_curl_saves_a_cyrillic_download_under_its_transliteration(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "Песня про зайцев.wav").write_bytes(noise_wav(1))
    saved = tmp_path / "saved"
    saved.mkdir()
    with audio_server(library) as server:
        url = f"{server.url}/files/{quote('Песня про зайцев.wav')}?download=1"
        result = subprocess.run(
            ["curl", "--silent", "--show-error", "-OJ", url], cwd=saved, capture_output=True, timeout=30, check=False
        )
    assert result.returncode == 0, result.stderr
    assert [path.name for path in saved.iterdir()] == ["Pesnya pro zaytsev.wav"]
    assert (saved / "Pesnya pro zaytsev.wav").read_bytes() == noise_wav(1)
