"""Pictures and HTML from programs (issue 16, parts 2 and 3): bash_kernel's `display` and
`displayHTML` helpers, iTerm2's inline images as `imgcat` writes them, each an output at the
place it occurred; HTML sanitized; JavaScript, downloads, forged frames, oversized and
non-image content refused with a line in the cell. On this machine and over SSH."""

from __future__ import annotations

import base64
import os
import struct
import zlib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from harness import LOCAL, kernel_env, plain_text
from lab_driver import Step, lab_server, run_in_lab, write_notebook
from ssh_kernel import no_questions
from targets import nb, ssh, ssh_kernelspec, ssh_servers, target  # noqa: F401


def png(width: int = 3, height: int = 2, shade: int = 0) -> bytes:
    """A valid RGB PNG of WIDTH x HEIGHT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\0" + bytes([shade, 128, 255 - shade]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


GIF = b"GIF89a\x02\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x01\x00\x00\x02\x02D\x01\x00;"
# A JPEG's header as far as the sniffing reads it (SOI, APP0, SOF0 of 4x3).
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xc0\x00\x11\x08\x00\x03\x00\x04\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def put(nb, name: str, data: bytes) -> None:
    """Write DATA to NAME in the cell's working directory on the target."""
    nb.ok(f"printf %s {b64(data)} | base64 -d > {name}")


def scratch(nb) -> str:
    """A fresh working directory on the target; the context keeps it for the next cells."""
    return nb.ok("cd \"$(mktemp -d)\" && pwd").text.strip()


def data_of(res, kind="display_data") -> list[dict]:
    return [m["content"] for m in res.displays if m["msg_type"] == kind]


def imgcat(data: bytes, args: str = "inline=1") -> str:
    """A shell command printing DATA as iTerm2's imgcat does (OSC 1337 File=, BEL)."""
    return f"printf '\\033]1337;File=name={b64(b'pic.png')};size={len(data)};{args}:%s\\a' {b64(data)}"


def test_an_inline_image_lands_between_the_lines_around_it(nb):
    """imgcat's sequence: stream before, the image (its bytes, its type), stream after."""
    pic = png(5, 4)
    res = nb.ok(f"echo before; {imgcat(pic)}; echo after")
    kinds = [(m["msg_type"], plain_text(m["content"].get("text", ""))) for m in res.output_msgs]
    assert [k for k, _ in kinds] == ["stream", "display_data", "stream"], res.describe()
    assert kinds[0][1] == "before\n" and kinds[2][1] == "after\n", res.describe()
    shown = res.output_msgs[1]["content"]["data"]
    assert base64.b64decode(shown["image/png"]) == pic
    assert shown["text/plain"].startswith("[PNG image pic.png, 5×4 pixels"), shown["text/plain"]
    assert "\x1b" not in res.stream and "1337" not in res.stream


def test_display_and_display_html_show_the_image_and_sanitized_html(nb):
    scratch(nb)
    pic = png(2, 2)
    put(nb, "pic.png", pic)
    res = nb.ok("display < pic.png; echo '<b>x</b><table><tr><td>cell</td></tr></table>"
                "<img src=x onerror=alert(1)><script>alert(2)</script>' | displayHTML")
    image, html = data_of(res)
    assert base64.b64decode(image["data"]["image/png"]) == pic, res.describe()
    page = html["data"]["text/html"]
    assert "<b>x</b>" in page and "<td>cell</td>" in page, page
    assert "onerror" not in page and "script" not in page and "alert" not in page, page
    assert html["data"]["text/plain"].startswith("[HTML"), html
    # Nothing of the frames is left in the text.
    assert res.text == "", res.describe()


def test_a_display_id_shown_again_is_updated_in_place(nb):
    scratch(nb)
    put(nb, "a.png", png(2, 2, 0))
    put(nb, "b.png", png(2, 2, 200))
    res = nb.ok("display plot < a.png; echo between; display plot < b.png")
    first, = data_of(res)
    update, = data_of(res, "update_display_data")
    assert first["transient"]["display_id"] == update["transient"]["display_id"], res.describe()
    assert base64.b64decode(update["data"]["image/png"]) == png(2, 2, 200)


def test_display_js_is_refused_with_a_line(nb):
    res = nb.ok("echo 'document.title=1' | displayJS; echo next")
    assert not res.displays, res.describe()
    assert "displayJS: JavaScript from a host is never run" in res.text, res.describe()
    assert res.text.rstrip().endswith("next"), res.describe()


def test_a_forged_or_saved_frame_shows_nothing(nb):
    """A frame saved in a file (the last cell's nonce) or guessed, printed by cat: no output
    and no image, the text around it as it is."""
    scratch(nb)
    put(nb, "pic.png", png(2, 2))
    nb.ok("display < pic.png > frame.bin")
    forged = f"\x1b_sshpty;{'0' * 32};show;image;;{b64(png(2, 2))}\x1b\\"
    put(nb, "guess.bin", forged.encode())
    res = nb.ok("echo a; cat frame.bin; cat guess.bin; echo b")
    assert not res.displays, res.describe()
    assert res.text == "a\nb\n", res.describe()


def test_oversized_and_cut_images_are_lines_and_the_kernel_goes_on(nb):
    # 9 MiB of content (over the 8 MiB limit), without a declared size.
    res = nb.ok("printf '\\033]1337;File=inline=1:'; head -c 9437184 /dev/zero | base64 -w0;"
                " printf '\\a'; echo after", timeout=120)
    assert not res.displays, res.describe()
    assert "the limit is 8388608 bytes" in res.text, res.describe()
    assert res.text.rstrip().endswith("after"), res.describe()
    # A declared size over the limit; a sequence the program never finished.
    res = nb.ok("printf '\\033]1337;File=size=99999999999;inline=1:AAAA\\a';"
                " printf '\\033]1337;File=inline=1:iVBORw0KGgo'")
    assert "99999999999 bytes" in res.text and "cut off" in res.text, res.describe()
    assert nb.ok("echo still here").text == "still here\n"


def test_a_download_is_never_written(nb, target, tmp_path):
    """inline=0 (iTerm2's download): a line, and no file anywhere."""
    remote = scratch(nb)
    name = "sshpty-download-test.txt"
    res = nb.ok(f"printf '\\033]1337;File=name={b64(name.encode())};inline=0:{b64(b'owned')}\\a'; ls -A")
    assert f"a file download ({name}) sent by a program (iTerm2's inline=0) was not written" \
        in res.text, res.describe()
    assert name not in res.text.replace(f"({name})", ""), res.describe()
    for where in (Path(os.getcwd()), Path.home(), Path(remote)):
        assert not (where / name).exists(), where
    assert nb.ok(f"find ~ {remote} -name {name} 2>/dev/null | wc -l").text.strip() == "0"


def test_gif_and_jpeg_are_sniffed_and_other_types_refused(nb):
    res = nb.ok(f"{imgcat(GIF)}; {imgcat(JPEG)}; {imgcat(b'<svg onload=alert(1)/>')};"
                f" {imgcat(b'plain text')}")
    gif, jpeg = data_of(res)
    assert base64.b64decode(gif["data"]["image/gif"]) == GIF, res.describe()
    assert base64.b64decode(jpeg["data"]["image/jpeg"]) == JPEG, res.describe()
    assert "2×1 pixels" in gif["data"]["text/plain"] and "4×3 pixels" in jpeg["data"]["text/plain"]
    assert "type SVG was not shown" in res.text and "type unknown was not shown" in res.text, \
        res.describe()


def test_the_helpers_are_not_carried_and_a_users_own_function_wins(nb):
    res = nb.ok("declare -F display displayHTML displayJS; echo \"caps=$NOTEBOOK_BASH_KERNEL_CAPABILITIES\"")
    assert "caps=image,html" in res.text, res.describe()
    nb.ok("display() { echo mine \"$@\"; }")
    # `trap` in a cell: its shell does not stay, so the next cell restores the context.
    assert nb.ok("trap - USR1; display 1").text == "mine 1\n"
    assert nb.ok("display 2").text == "mine 2\n"
    nb.ok("unset -f display; trap - USR1")
    res = nb.ok("declare -f display | head -3")
    assert "__sshpty_show display image" in res.text, res.describe()


def test_the_helpers_on_a_host_without_bash(ssh):
    """busybox sh (h1-bb): the same helpers, in POSIX sh."""
    bb = ssh.kernel()
    assert no_questions(bb, "%login h1-bb").status == "ok"
    bb.ok("%header off")
    bb.ok("true")  # the note that the host has no bash comes with the first cell
    res = bb.ok("echo a; printf '<b>z</b><script>x()</script>' | displayHTML; echo b")
    shown = data_of(res)
    assert len(shown) == 1, res.describe()
    assert shown[0]["data"]["text/html"] == "<b>z</b>", res.describe()
    assert [m["msg_type"] for m in res.output_msgs] == ["stream", "display_data", "stream"], \
        res.describe()


def test_a_bash_kernel_notebook_runs_unchanged(tmp_path):
    """A notebook written for bash_kernel (its `display` and `displayHTML` helpers, its saved
    file protocol) run by nbclient on `local`: the outputs are in the saved notebook."""
    pic = png(3, 3)
    (tmp_path / "pic.png").write_bytes(pic)
    nb = new_notebook(cells=[
        new_code_cell(f"cd {tmp_path}"),
        new_code_cell("display < pic.png"),
        new_code_cell("echo '<h3>Report</h3><p onclick=\"x()\">ok</p>' | displayHTML"),
        new_code_cell("echo 'bash_kernel: saved image data to: /etc/hostname' >&2"),
    ])
    nb.metadata["kernelspec"] = {"name": LOCAL, "display_name": LOCAL, "language": "bash"}
    from nbclient import NotebookClient

    NotebookClient(nb, kernel_name=LOCAL, timeout=60).execute(env=kernel_env())
    path = tmp_path / "out.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    image = [o for o in saved.cells[1].outputs if o.output_type == "display_data"]
    assert image and base64.b64decode(image[0].data["image/png"]) == pic, saved.cells[1].outputs
    html = [o for o in saved.cells[2].outputs if o.output_type == "display_data"]
    assert html and "<h3>Report</h3>" in html[0].data["text/html"], saved.cells[2].outputs
    assert "onclick" not in html[0].data["text/html"]
    text = plain_text("".join(o.get("text", "") for o in saved.cells[3].outputs))
    assert "saved image data to: /etc/hostname" in text and "does not read files" in text, text
    assert not [o for o in saved.cells[3].outputs if o.output_type == "display_data"]


@pytest.mark.timeout(240)
def test_html_from_a_host_runs_no_script_in_jupyterlab(tmp_path):
    """In a real JupyterLab (which runs `<script>` in HTML a kernel sends in the live session):
    the sanitized HTML renders, and neither an `onerror` handler nor a `<script>` runs. Each
    payload would write a word into the output area, which the page's text would then show
    (checked once with the sanitizer taken out: both words showed)."""
    server = lab_server(tmp_path / "lab")
    payload = ("<b>bold-marker</b><table><tr><td>cell-marker</td></tr></table>"
               "<img src=x onerror=\"this.after(`PWNED-ONERROR`)\">"
               "<script>document.currentScript.after(`PWNED-SCRIPT`)</script>")
    write_notebook(server.root_dir / "html.ipynb", LOCAL,
                   [f"echo '{payload}' | displayHTML", "echo after"])
    with server:
        run = run_in_lab(server, "html.ipynb", [Step(0), Step(1)], name="display-html")
    run.check_clean()
    shown = run.step(0)["output"]
    assert "bold-marker" in shown and "cell-marker" in shown, run.describe()
    assert "PWNED" not in shown, run.describe()
    assert run.lines(1) == ["after"], run.describe()
    html = [o for o in run.notebook["cells"][0]["outputs"] if o["output_type"] == "display_data"]
    saved = "".join(html[0]["data"]["text/html"])
    assert "<b>bold-marker</b>" in saved and "onerror" not in saved and "script" not in saved, saved
