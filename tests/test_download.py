"""translate-datasets against a local HTTP server: extraction layout, resume, checksums and one-line refusals."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from translate.cli.datasets import main
from translate.download import DATASETS, DatasetEntry, DownloadError, download


@dataclass
class Served:
    """What the test server serves and how it misbehaves; `requests` logs (path, Range header) per GET."""

    url: str
    folder: Path
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: int | None = None  # send only this many body bytes of the next response, then hang up
    honour_range: bool = True


class _RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        served: Served = self.server.served  # type: ignore[attr-defined]
        wanted = self.headers.get("Range")
        served.requests.append((self.path, wanted))
        path = served.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and served.honour_range else 0
        if start >= len(data) > 0 and wanted:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if served.cut_after is not None:
            body, served.cut_after = body[: served.cut_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path):
    folder = tmp_path / "www"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    server.daemon_threads = True
    server.served = Served(f"http://127.0.0.1:{server.server_address[1]}", folder)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server.served  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join()


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


MEMBERS = {"toyset/trainA/x.png": _png((255, 0, 0)), "toyset/trainB/y.png": _png((0, 0, 255))}


def _archive(kind: str, members: dict[str, bytes] = MEMBERS) -> bytes:
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _serve(served: Served, data: bytes, kind: str = "zip", sha256: str | None = "auto") -> dict[str, DatasetEntry]:
    """Put `data` on the server and return an entry table pointing at it (sha256 "auto": the real one)."""
    (served.folder / f"toy.{kind}").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256
    return {"toy": DatasetEntry(f"{served.url}/toy.{kind}", len(data), digest, "test data", kind, "trainA/ trainB/")}


def _one_line(err: pytest.ExceptionInfo, *words: str) -> str:
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
    return message


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_download_extracts_and_unwraps_the_top_folder(served, tmp_path, kind):
    root = tmp_path / "data"
    path = download("toy", root, entries=_serve(served, _archive(kind), kind))
    assert path == root / "toy"
    assert (path / "trainA" / "x.png").read_bytes() == MEMBERS["toyset/trainA/x.png"]
    assert (path / "trainB" / "y.png").is_file()
    assert not (root / ".toy.extracting").exists() and not (root / ".downloads" / "toy.part").exists()


@pytest.mark.parametrize("honour_range", [True, False], ids=["range", "server-ignores-range"])
def test_interrupted_download_resumes(served, tmp_path, honour_range):
    root, data = tmp_path / "data", _archive("zip")
    entries = _serve(served, data)
    served.cut_after, served.honour_range = 100, honour_range
    with pytest.raises(DownloadError) as err:
        download("toy", root, entries=entries)
    _one_line(err, "toy", "interrupted", "again")
    assert (root / ".downloads" / "toy.part").stat().st_size == 100
    assert not (root / "toy").exists()

    download("toy", root, entries=entries)  # the checksum in `entries` proves the bytes were joined right
    assert served.requests[-1][1] == "bytes=100-"
    assert (root / "toy" / "trainA" / "x.png").is_file()


def test_checksum_mismatch_deletes_the_download(served, tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as err:
        download("toy", root, entries=_serve(served, _archive("zip"), sha256="0" * 64))
    _one_line(err, "checksum", "0" * 64)
    assert not (root / "toy").exists() and not (root / ".downloads" / "toy.part").exists()


def test_http_404_is_one_line(served, tmp_path):
    entries = {"toy": DatasetEntry(f"{served.url}/missing.zip", 1, None, "-", "zip", "-")}
    with pytest.raises(DownloadError) as err:
        download("toy", tmp_path, entries=entries)
    _one_line(err, "404", f"{served.url}/missing.zip")


def test_connection_refused(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    entries = {"toy": DatasetEntry(f"http://127.0.0.1:{port}/toy.zip", 1, None, "-", "zip", "-")}
    with pytest.raises(DownloadError) as err:
        download("toy", tmp_path, entries=entries)
    _one_line(err, "cannot reach", "network")


def test_a_server_that_never_answers(tmp_path, monkeypatch):
    monkeypatch.setattr("translate.download._TIMEOUT_S", 0.5)
    with socket.socket() as sock:  # accepts connections (the kernel's backlog) and never replies
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        entries = {"toy": DatasetEntry(f"http://127.0.0.1:{sock.getsockname()[1]}/toy.zip", 1, None, "-", "zip", "-")}
        with pytest.raises(DownloadError) as err:
            download("toy", tmp_path, entries=entries)
    _one_line(err, "no answer from", "toy.zip")


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt"])
def test_unsafe_member_is_refused(served, tmp_path, kind, member):
    root = tmp_path / "data"
    entries = _serve(served, _archive(kind, {**MEMBERS, member: b"gotcha"}), kind)
    with pytest.raises(DownloadError) as err:
        download("toy", root, entries=entries)
    _one_line(err, "unsafe", member)
    assert not (tmp_path / "evil.txt").exists() and not (root / "toy").exists()


def test_corrupt_archive_is_deleted(served, tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as err:
        download("toy", root, entries=_serve(served, b"not a zip at all" * 10, sha256=None))
    _one_line(err, "not a valid zip", "again")
    assert not (root / ".downloads" / "toy.part").exists() and not (root / "toy").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full(served, tmp_path):
    root = tmp_path / "data"
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / "toy.part").symlink_to("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(DownloadError) as err:
        download("toy", root, entries=_serve(served, _archive("zip")))
    _one_line(err, "disk full")


def test_existing_folder_is_kept_unless_forced(served, tmp_path):
    root = tmp_path / "data"
    entries = _serve(served, _archive("zip"))
    download("toy", root, entries=entries)
    (root / "toy" / "mine.txt").write_text("kept")
    download("toy", root, entries=entries)
    assert len(served.requests) == 1 and (root / "toy" / "mine.txt").exists()
    download("toy", root, entries=entries, force=True)
    assert len(served.requests) == 2 and not (root / "toy" / "mine.txt").exists()


def test_cli_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS)
    assert "no published checksum" in out and "sha256" in out


def test_cli_unknown_name_is_one_line(capsys):
    assert main(["nosuchset"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuchset" in err and "horse2zebra" in err and "Urban100" in err


def test_cli_skips_a_set_already_there(tmp_path, capsys):
    (tmp_path / "horse2zebra").mkdir()
    assert main(["horse2zebra", "--root", str(tmp_path)]) == 0
    assert "already in" in capsys.readouterr().out
