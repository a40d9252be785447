"""Fetch the public CycleGAN, pix2pix and super-resolution sets: resumable, checksummed, extracted atomically.

An archive is downloaded to ``ROOT/.downloads/NAME.part`` (an interrupted transfer resumes from where it
stopped), checked against its sha256 where one is published, extracted into ``ROOT/.NAME.extracting`` and
only then renamed to ``ROOT/NAME``, so a folder under that name is always complete. Archives that wrap
everything in one top-level folder are unwrapped, so ``ROOT/horse2zebra/trainA`` exists directly.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from translate.errors import UserError

_TIMEOUT_S = 60
_CHUNK = 1 << 20


class DownloadError(UserError):
    """A dataset that cannot be fetched, verified or extracted; the message says which and what to do."""


@dataclass(frozen=True)
class DatasetEntry:
    """Where a set comes from and what it unpacks to.

    `size` is in bytes; `size_approx` marks sizes rounded off a listing or estimated, where no exact figure
    is published. `sha256` is None where neither the host nor a project that verifies the file publishes one.
    """

    url: str
    size: int
    sha256: str | None
    licence: str
    archive: str  # "zip" or "tar.gz"
    layout: str  # what ROOT/NAME holds after extraction
    size_approx: bool = False


_CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{}.zip"
_PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{}.tar.gz"
_HF_SR_URL = "https://huggingface.co/datasets/eugenesiow/{0}/resolve/main/data/{0}_HR.tar.gz"
_DIV2K_URL = "http://data.vision.ee.ethz.ch/cvl/DIV2K/{}.zip"
_UNPAIRED = "trainA/ trainB/ testA/ testB/"
_PAIRED = "train/ val/{}, A|B pairs side by side"


def _cyclegan(name: str, size: int, sha256: str, sources: str) -> DatasetEntry:
    return DatasetEntry(_CYCLEGAN_URL.format(name), size, sha256, f"research use; {sources} images", "zip",
                        _UNPAIRED)


# CycleGAN and DIV2K sizes and sha256: TensorFlow Datasets' url_checksums (cycle_gan.txt, div2k.txt), recorded
# for the same files; the CycleGAN ones under their former people.eecs.berkeley.edu/~taesung_park address.
# pix2pix: sizes read off the host's folder listing. Set5/Set14/BSD100/Urban100: the Hugging Face repositories
# of eugenesiow, sha256 from their Git LFS pointers where one could be looked up.
DATASETS: dict[str, DatasetEntry] = {
    "horse2zebra": _cyclegan("horse2zebra", 116_867_962,
                             "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1", "ImageNet"),
    "apple2orange": _cyclegan("apple2orange", 78_456_409,
                              "845a191e9af8926408ea597001cd03a452e3300a1f44a79fe329b3d59f6e3eb8", "ImageNet"),
    "summer2winter_yosemite": _cyclegan("summer2winter_yosemite", 132_640_856,
                                        "167fe1726807a9d22bd106b4a6c0bd7953b688af924ac1bf967439c4961e49f9", "Flickr"),
    "monet2photo": _cyclegan("monet2photo", 305_231_073,
                             "88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04", "WikiArt/Flickr"),
    "vangogh2photo": _cyclegan("vangogh2photo", 306_590_349,
                               "362c3473e70be0944bda08d49d660eafdc2854df55d697835b8186d1d79caaff", "WikiArt/Flickr"),
    "cezanne2photo": _cyclegan("cezanne2photo", 279_885_071,
                               "3a6c10ca21f9485862f1cbd707744b9dc258954a04631271d23a3605eeb63cff", "WikiArt/Flickr"),
    "ukiyoe2photo": _cyclegan("ukiyoe2photo", 292_946_532,
                              "02a2a2fb5ecf425ca1bf86aca7304377da64a2a1d3b86df54eb65e4068bf3b08", "WikiArt/Flickr"),
    "facades": DatasetEntry(_PIX2PIX_URL.format("facades"), 30_000_000, None,
                            "CMP Facade Database; research use", "tar.gz", _PAIRED.format(" test/"), size_approx=True),
    "edges2shoes": DatasetEntry(_PIX2PIX_URL.format("edges2shoes"), 2_150_000_000, None,
                                "UT Zappos50K; academic non-commercial use", "tar.gz", _PAIRED.format(""),
                                size_approx=True),
    "maps": DatasetEntry(_PIX2PIX_URL.format("maps"), 250_000_000, None,
                         "Google Maps imagery; research use, Google's terms apply", "tar.gz", _PAIRED.format(""),
                         size_approx=True),
    "DIV2K_train_HR": DatasetEntry(_DIV2K_URL.format("DIV2K_train_HR"), 3_530_603_713,
                                   "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
                                   "academic research only", "zip",
                                   "800 PNGs, 2K resolution"),
    "DIV2K_valid_HR": DatasetEntry(_DIV2K_URL.format("DIV2K_valid_HR"), 448_993_893,
                                   "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
                                   "academic research only", "zip",
                                   "100 PNGs, 2K resolution"),
    "Set5": DatasetEntry(_HF_SR_URL.format("Set5"), 852_000,
                         "260fc447296333f6c2716bcd65513968c33b666f21a905537ee3330c51a1945b",
                         "benchmark, research use", "tar.gz", "5 HR PNGs (test set)", size_approx=True),
    "Set14": DatasetEntry(_HF_SR_URL.format("Set14"), 5_000_000, None,
                          "benchmark, research use", "tar.gz", "14 HR PNGs (test set)", size_approx=True),
    "BSD100": DatasetEntry(_HF_SR_URL.format("BSD100"), 27_200_000,
                           "333495ccded04a0db52b33361140821ea7e0d8af8dfb54b58df79a00010858d6",
                           "Berkeley BSDS300 images; non-commercial research", "tar.gz", "100 HR PNGs (test set)",
                           size_approx=True),
    "Urban100": DatasetEntry(_HF_SR_URL.format("Urban100"), 135_000_000, None,
                             "benchmark, research use (HF card: CC-BY-4.0)", "tar.gz", "100 HR PNGs (test set)",
                             size_approx=True),
}


def human_size(entry: DatasetEntry) -> str:
    value, unit = next((entry.size / f, u) for f, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B"))
                       if entry.size >= f or u == "B")
    return f"{'~' if entry.size_approx else ''}{value:.3g} {unit}"


def dataset_table(entries: Mapping[str, DatasetEntry] = DATASETS) -> str:
    """The ``--list`` table: name, size, layout, checksum status, licence."""
    rows = [("name", "size", "layout", "checksum", "licence")]
    rows += [(name, human_size(e), e.layout, "sha256" if e.sha256 else "no published checksum", e.licence)
             for name, e in entries.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[4]]) for row in rows)


def check_names(names: Iterable[str], entries: Mapping[str, DatasetEntry] = DATASETS) -> None:
    """Refuse unknown names up front, so a typo in the last name does not surface after hours of downloading."""
    for name in names:
        if name not in entries:
            raise DownloadError(f"unknown dataset {name!r}; valid names: {', '.join(entries)} (see --list)")


def download(name: str, root: str | Path, *, entries: Mapping[str, DatasetEntry] = DATASETS,
             force: bool = False) -> Path:
    """Download, verify and extract `name` into ``root/name``; return that folder.

    An existing ``root/name`` is left alone unless `force`. `entries` is the table to look `name` up in.
    """
    check_names([name], entries)
    entry, root = entries[name], Path(root)
    target = root / name
    if target.exists() and not force:
        return target
    part = root / ".downloads" / f"{name}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    _fetch(name, entry, part)
    if entry.sha256:
        with open(part, "rb") as f:
            got = hashlib.file_digest(f, "sha256").hexdigest()
        if got != entry.sha256:
            part.unlink()
            raise DownloadError(f"{name}: checksum mismatch for {entry.url}: expected sha256 {entry.sha256}, "
                                f"got {got}; deleted the download, run again to fetch it afresh")
    staging = root / f".{name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)  # left over from a crash mid-extraction
    try:
        _extract(name, entry, part, staging)
        # Many archives wrap everything in one folder (horse2zebra/trainA...): unwrap it.
        content = [p for p in staging.iterdir() if p.name != "__MACOSX"]  # macOS zips carry resource forks
        source = content[0] if len(content) == 1 and content[0].is_dir() else staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    part.unlink()  # the extracted copy is what is used; the archive would double the disk space
    return target


def _fetch(name: str, entry: DatasetEntry, part: Path) -> None:
    """Download `entry.url` into `part`, resuming after the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(entry.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return  # nothing left past what we have: the .part is complete (verified or extracted next)
        raise DownloadError(f"{name}: HTTP {err.code} {err.reason} for {entry.url}; the host may have moved the "
                            "file: try again later or fetch it by hand (see datasets/download.md)") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"{name}: cannot reach {entry.url} ({err.reason}); check the network connection "
                            "or proxy settings and try again") from None
    except (OSError, http.client.HTTPException) as err:  # e.g. a server that connects, then never answers
        raise DownloadError(f"{name}: no answer from {entry.url} ({err or type(err).__name__}); try again "
                            "later") from None
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored Range and sends the whole file: start over
        elif have and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            raise DownloadError(f"{name}: the server resumed {entry.url} at the wrong offset; delete {part} "
                                "and run again")
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        try:
            with open(part, "ab" if have else "wb") as f, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=not sys.stderr.isatty(),
            ) as bar:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:
            if getattr(err, "errno", None) == errno.ENOSPC:
                raise DownloadError(f"{name}: disk full writing {part}; free about {human_size(entry)} there "
                                    "and run again, the download resumes") from None
            raise DownloadError(f"{name}: download of {entry.url} interrupted ({err}); run the same command "
                                "again to resume") from None
    got = part.stat().st_size
    if total is not None and got < total:  # http.client returns a short body silently when the peer hangs up
        raise DownloadError(f"{name}: download of {entry.url} interrupted after {got} of {total} bytes; "
                            "run the same command again to resume")


def _extract(name: str, entry: DatasetEntry, archive: Path, dest: Path) -> None:
    """Extract `archive` into `dest`, refusing members that would land outside it."""
    try:
        if entry.archive == "zip":
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _check_member(name, archive, member)
                zf.extractall(dest)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                for member in tf.getmembers():
                    _check_member(name, archive, member.name)
                # The "data" filter also refuses links out of `dest`, device files and setuid bits.
                tf.extractall(dest, filter="data")
    except tarfile.FilterError as err:
        raise DownloadError(f"{name}: {archive} has an unsafe member ({err}); refusing to extract it") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        archive.unlink()
        raise DownloadError(f"{name}: {archive} is not a valid {entry.archive} archive ({err}); deleted it, run "
                            "again to download it afresh") from None
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DownloadError(f"{name}: disk full extracting into {dest.parent}; free space there and run "
                                "again (the download is kept)") from None
        raise


def _check_member(name: str, archive: Path, member: str) -> None:
    path = PurePosixPath(member.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise DownloadError(f"{name}: {archive} has an unsafe member {member!r} (absolute path or '..'); "
                            "refusing to extract it")
