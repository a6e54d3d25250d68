"""Media arguments as a notebook user has them, seen in prompts and requests, answered offline (issue #14)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import baml_py
import nbformat
import pytest
from IPython.display import Image as IPythonImage
from nbclient import NotebookClient

from baml_magic import Image, Pdf
from baml_magic._media import MediaError, sniff

CORPUS = Path(__file__).parent / "corpus"
PNG = (CORPUS / "fixtures" / "receipt.png").read_bytes()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


@pytest.fixture
def media(shell):
    shell.run_line_magic("baml", f"load {CORPUS / 'media'}")
    return shell.user_ns


def _last_media(llm) -> list[dict]:
    return llm.requests()[-1]["media"]


def test_an_image_from_a_path_bytes_a_data_url_an_ipython_image_or_baml_s_own(media, llm, tmp_path: Path) -> None:
    copy = tmp_path / "receipt.png"
    copy.write_bytes(PNG)
    digest = hashlib.sha256(PNG).hexdigest()
    read = media["ReadReceipt"]
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    for value in (str(copy), copy, PNG, bytearray(PNG), data_url, IPythonImage(data=PNG, format="png"),
                  Image.from_base64("image/png", base64.b64encode(PNG).decode())):
        receipt = read(value)
        assert receipt.merchant and isinstance(receipt.total, float)
        [part] = _last_media(llm)
        assert (part["kind"], part["media_type"], part["bytes"], part["sha256"]) == \
            ("image_url", "image/png", len(PNG), digest), "the model got the image byte for byte"


def test_audio_pdf_and_media_inside_a_class(media, llm, tmp_path: Path) -> None:
    assert media["Transcribe"](WAV)
    assert _last_media(llm)[0]["bytes"] == len(WAV) and _last_media(llm)[0]["kind"] == "input_audio"
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 1000 + b"\n%%EOF\n")
    assert media["SummarizePdf"](pdf)
    assert _last_media(llm)[0]["bytes"] == pdf.stat().st_size
    picture = tmp_path / "p.png"
    picture.write_bytes(PNG)
    assert media["Caption"]({"caption": "a receipt", "picture": str(picture)})
    assert _last_media(llm)[0]["sha256"] == hashlib.sha256(PNG).hexdigest()


@pytest.mark.parametrize(("value", "match"), [
    (b"\x00\x01 not any format", "can't tell what media type"),
    ("/no/such/file.png", "no file at /no/such/file.png"),
    (3.5, "must be image"),
])
def test_media_that_cannot_be_made_is_a_clear_type_error_and_nothing_is_sent(media, llm, value, match) -> None:
    llm.reset()
    with pytest.raises(TypeError, match=match) as caught:
        media["ReadReceipt"](value)
    assert "photo" in str(caught.value)
    assert isinstance(caught.value, MediaError)
    assert llm.requests() == []


def test_the_prompt_shows_images_as_thumbnails_and_large_media_as_chips(media, tmp_path: Path) -> None:
    prompt = media["ReadReceipt"].prompt(PNG)
    page = prompt._repr_html_()
    assert '<img class="baml-magic-media" data-kind="image" src="data:image/png;base64,' in page
    assert "[image, image/png]" in repr(prompt)
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(5 * 1024 * 1024))
    page = media["SummarizePdf"].prompt(big)._repr_html_()
    assert 'data-kind="pdf"' in page and "5.0 MB" in page and len(page) < 5000, "a chip, not five megabytes"


def test_requests_and_curl_shorten_base64(media, tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(5 * 1024 * 1024))
    request = media["SummarizePdf"].request(big)
    assert len(repr(request)) < 5000 and len(request.as_curl()) < 5000 and len(request._repr_html_()) < 5000
    assert "bytes]" in repr(request)


def test_sniffing_knows_the_common_formats() -> None:
    assert sniff(PNG) == "image/png" and sniff(b"\xff\xd8\xff\xe0") == "image/jpeg" and sniff(WAV) == "audio/wav"
    assert sniff(b"%PDF-1.7") == "application/pdf" and sniff(b"hello") is None
    assert isinstance(Pdf.from_base64(base64.b64encode(b"%PDF").decode()), baml_py.Pdf)


def test_a_saved_notebook_with_a_five_megabyte_pdf_stays_small(llm, tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(5 * 1024 * 1024))
    cells = ["%load_ext baml_magic", f"%baml load {CORPUS / 'media'}",
             f"SummarizePdf({str(big)!r})", f"SummarizePdf.prompt({str(big)!r})",
             f"SummarizePdf.request({str(big)!r})", "SummarizePdf.last"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    saved = tmp_path / "out.ipynb"
    nbformat.write(nb, saved)
    assert saved.stat().st_size < 200_000, f"{saved.stat().st_size} bytes saved"
    assert any("pdf" in json.dumps(c.get("outputs", [])) for c in nb.cells)
