"""Media arguments as a notebook user has them, seen in prompts and requests, answered offline (issue #14)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
from pathlib import Path

import baml_py
import nbformat
import pytest
from IPython.display import Image as IPythonImage

from baml_magic import Image, Pdf
from baml_magic.calls._media import MediaError, sniff

CORPUS = Path(__file__).parent / "corpus"
PNG = (CORPUS / "fixtures" / "receipt.png").read_bytes()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


@pytest.fixture
def media(shell):
    shell.run_line_magic("baml", f"load {CORPUS / 'media'}")
    return shell.user_ns


def _last_media(llm) -> list[dict]:
    return llm.requests()[-1]["media"]


@pytest.mark.slow  # measured over a second
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


def _noise_png(path: Path, side: int) -> bytes:
    """A PNG of random pixels (it does not compress): ``side`` x ``side`` is about 3 * side**2 bytes."""
    from PIL import Image as PILImage

    PILImage.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, format="PNG")
    return path.read_bytes()


def test_a_saved_notebook_shows_the_images_sent_and_stays_small_with_a_five_megabyte_pdf(llm, tmp_path: Path,
                                                                                          run_notebook) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + os.urandom(5 * 1024 * 1024))
    photo = tmp_path / "photo.png"
    assert len(_noise_png(photo, 1000)) > 2_000_000
    (tmp_path / "receipt.png").write_bytes(PNG)
    cells = ["%load_ext baml_magic", f"%baml load {CORPUS / 'media'}",
             f"SummarizePdf({str(big)!r})", f"SummarizePdf.prompt({str(big)!r})",
             f"SummarizePdf.request({str(big)!r})", "SummarizePdf.last",
             "r = ReadReceipt('receipt.png')", f"r = ReadReceipt({str(photo)!r})"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    run_notebook(nb, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    saved = tmp_path / "out.ipynb"
    nbformat.write(nb, saved)
    assert saved.stat().st_size < 200_000, f"{saved.stat().st_size} bytes saved"
    assert any("pdf" in json.dumps(c.get("outputs", [])) for c in nb.cells)
    small, large = (next(o for o in c.outputs if "text/html" in o.get("data", {}))["data"]["text/html"]
                    for c in nb.cells[-2:])
    assert 'data-status="done"' in small and 'data-status="done"' in large
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in small, "a small image is kept whole"
    assert "data:image/jpeg" in large, large[:600]
    thumbnail = large.split('src="data:image/jpeg;base64,', 1)[1].split('"', 1)[0]
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(base64.b64decode(thumbnail))) as picture:
        assert max(picture.size) == 160, "a large image is kept as a 160 px thumbnail"
    assert len(thumbnail) < 48_000


def test_without_pillow_a_large_image_is_a_chip(monkeypatch, tmp_path: Path) -> None:
    import sys

    from baml_magic.calls._media import describe, preview

    photo = tmp_path / "photo.png"
    _noise_png(photo, 300)
    monkeypatch.setitem(sys.modules, "PIL", None)
    kept = preview(describe(Image.from_base64("image/png", base64.b64encode(photo.read_bytes()).decode())))
    assert kept.source == "" and kept.kind == "image" and kept.size == photo.stat().st_size


def test_the_playground_takes_a_file_or_a_url_previews_it_and_sends_it(media, llm) -> None:
    from baml_magic.notebook._playground import MediaField

    playground = media["ReadReceipt"].playground()
    [field] = playground.fields
    assert isinstance(field, MediaField) and field.upload.accept == "image/*"
    playground.start()
    assert "choose a file or give a URL" in playground.message.value, "nothing chosen: said, nothing sent"
    field.upload.value = ({"name": "receipt.png", "type": "image/png", "size": len(PNG),
                           "content": memoryview(PNG),
                           "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in field.preview.value
    llm.reset()
    run = playground.start()
    assert run is not None
    playground.wait()
    assert run.status == "done", run.error_message
    [part] = _last_media(llm)
    assert part["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert 'data-kind="image"' in playground.panes["Prompt"].value
    assert f"&lt;image image/png {len(PNG)} B&gt;" in playground.history_view.value
    field.url.value = "ftp://nowhere"
    assert "no file at ftp://nowhere" in field.preview.value
    field.url.value = "https://example.com/receipt.png"
    assert 'src="https://example.com/receipt.png"' in field.preview.value


ANTHROPIC = """
client<llm> Claude {
  provider anthropic
  options {
    base_url env.LOCAL_LLM_BASE_URL
    api_key "local"
    model "local"
    max_tokens 500
  }
}
class Seen {
  summary string
  pages int
}
function SeeBoth(photo: image, doc: pdf) -> Seen {
  client Claude
  prompt #"
    {{ _.role("system") }} You read documents.
    {{ _.role("user") }} Look at {{ photo }} and {{ doc }}. {{ ctx.output_format }}
  "#
}
function SayWhat(photo: image) -> string {
  client Claude
  prompt #"{{ _.role("user") }} What is in {{ photo }}?"#
}
"""


def test_the_offline_model_answers_anthropic_style_with_image_and_document_blocks(shell, llm, tmp_path: Path) -> None:
    shell.run_cell("%%baml\n" + ANTHROPIC)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"1" * 2000 + b"\n%%EOF\n")
    seen = shell.user_ns["SeeBoth"](PNG, pdf)
    assert seen.summary and isinstance(seen.pages, int)
    image, document = _last_media(llm)
    digest = hashlib.sha256(PNG).hexdigest()
    assert (image["kind"], image["media_type"], image["sha256"]) == ("image", "image/png", digest)
    assert (document["kind"], document["bytes"]) == ("document", pdf.stat().st_size)
    said = shell.user_ns["SayWhat"](PNG)
    assert said.startswith(f"(Received image/png, {len(PNG)} bytes, sha256 {hashlib.sha256(PNG).hexdigest()[:12]}.)")
    last = shell.user_ns["SayWhat"].last
    assert last.usage.output_tokens and last.usage.input_tokens
    assert [p.summary for p in shell.user_ns["SeeBoth"].stream(PNG, pdf)][-1] == seen.summary


def test_a_class_parameter_with_media_takes_json_with_a_path_in_the_playground(media, llm, tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(PNG)
    playground = media["Caption"].playground()
    [field] = playground.fields
    assert "media as a path, URL or data URL" in field.widget.placeholder
    field.widget.value = json.dumps({"caption": "a receipt", "picture": str(picture)})
    llm.reset()
    run = playground.start()
    assert run is not None, playground.message.value
    playground.wait()
    assert run.status == "done" and _last_media(llm)[0]["sha256"] == hashlib.sha256(PNG).hexdigest()
