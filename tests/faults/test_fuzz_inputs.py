"""Mangled inputs: hundreds of mutated label files for import-labels (Aff-Wild2 .txt, ELAN .eaf,
and BORIS projects and OpenFace CSVs dropped in under those names) and mutated video files
(flipped and zeroed header bytes, truncations). Each one is either taken, or refused with one
line naming the file; never a traceback, and a refused import stores nothing.

Mutations come from a fixed seed, so a failure names a case that comes back on the next run.
Most cases call the command line's own entry point in this process; a handful run the real
`au-annotator` in a process of its own.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import db
from annotator.cli import main
from annotator.processing.prediction import process_video
from annotator.processing.video import count_frames, open_video
from annotator.services import Services
from model.errors import InputError

pytestmark = pytest.mark.slow  # fault tests: many mangled files

SEED = 20261130
CODER = "alice"
LABEL_CASES = 600
VIDEO_CASES = 300
# what a mutation splices in: label values out of range, separators, XML and encoding debris
TOKENS = (b"-1", b"2", b",", b"\n", b"AU12", b"<", b">", b"&", b'"', b"99999999999", b"-5",
          b"\xff\xfe", b"\x00", b"1.5", b" ", b"NaN", b"</TIER>", b"\r\n", b"\xef\xbb\xbf")
TIMES = (b"-1000", b"0", b"1000000000000", b"9223372036854775808", b"1", b"99999")
VALUES = (b"reviewed", b"pre-fill", b"reviewed: AU99, AU1", b"reviewed:", b"", b"junk",
          b"present", b"reviewed: ,,,", b"reviewed: AU12")
TIER_NAMES = (b"AU12", b"AU 99", b"Review", b"au012_c", b"AU4 not codable", b"Smile", b"",
              b"AU0", b"AU1", b"AU 26")


def cli(*arguments: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `au-annotator ARGUMENTS`, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(arguments))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory, single_face) -> dict:
    """The clip processed, Alice's corrections, and her labels exported in every format."""
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'annotations.sqlite3'}"
    process_video(single_face, Services.open(url))
    with db.open_database(url).begin() as session:
        video = db.list_videos(session)[0]
        db.correct(session, video, CODER, "AU12", 10, 30, 1)
        db.correct(session, video, CODER, "AU4", 40, 50, -1)
    seeds = {}
    for file_format in ("affwild2", "elan", "boris", "openface-csv"):
        status, printed, _ = cli("export", "--format", file_format, "--coder", CODER,
                                 "--out", str(folder / "seeds"), "--db", url)
        assert status == 0
        seeds[file_format] = Path(printed.split()[0]).read_bytes()
    return {"url": url, "seeds": seeds, "folder": folder}


def stored_rows(url: str) -> tuple[int, int]:
    with db.open_database(url, read_only=True).begin() as session:
        return (session.scalar(select(func.count()).select_from(db.Edit)),
                session.scalar(select(func.count()).select_from(db.Correction)))


def mutated_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: a bit flipped, a cut, a token spliced in or over, a line
    dropped, doubled or moved."""
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not mutated:
            break
        where = rng.randrange(len(mutated))
        operation = rng.choice(("flip", "cut", "insert", "overwrite", "lines"))
        if operation == "flip":
            mutated[where] ^= 1 << rng.randrange(8)
        elif operation == "cut":
            del mutated[where:]
        elif operation == "insert":
            mutated[where:where] = rng.choice(TOKENS)
        elif operation == "overwrite":
            mutated[where:where + rng.randint(1, 8)] = rng.choice(TOKENS)
        else:
            lines = bytes(mutated).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            choice = rng.choice(("drop", "double", "swap"))
            if choice == "drop":
                del lines[i]
            elif choice == "double":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            mutated = bytearray(b"\n".join(lines))
    return bytes(mutated)


def mutated_elan(data: bytes, rng: random.Random) -> bytes:
    """Well-formed XML with wrong content: times, values and tier names changed, time slots
    dropped, annotations running backwards, the linked media renamed."""
    for _ in range(rng.randint(1, 3)):
        operation = rng.choice(("time", "value", "tier", "slot", "backwards", "media"))
        if operation == "backwards":
            data = (data.replace(b"TIME_SLOT_REF1", b"\0").replace(b"TIME_SLOT_REF2",
                    b"TIME_SLOT_REF1").replace(b"\0", b"TIME_SLOT_REF2"))
            continue
        if operation == "media":
            data = re.sub(rb'MEDIA_URL="[^"]*"', b'MEDIA_URL="file:///elsewhere/other.mp4"',
                          data)
            continue
        pattern, choices = {
            "time": (rb'TIME_VALUE="(-?[0-9]+)"', TIMES),
            "value": (rb"<ANNOTATION_VALUE>([^<]*)</ANNOTATION_VALUE>", VALUES),
            "tier": (rb'TIER_ID="([^"]*)"', TIER_NAMES),
            "slot": (rb"(<TIME_SLOT [^>]*/>)", (b"",)),
        }[operation]
        found = list(re.finditer(pattern, data))
        if found:
            match = rng.choice(found)
            data = data[:match.start(1)] + rng.choice(choices) + data[match.end(1):]
    return data


def label_cases(seeds: dict[str, bytes], count: int):
    """(file name, content) of `count` mutated label files."""
    rng = random.Random(SEED)
    for number in range(count):
        file_format = rng.choice(tuple(seeds))
        data = seeds[file_format]
        if file_format == "elan" and rng.random() < 0.6:
            content = mutated_elan(data, rng)
        else:
            content = mutated_bytes(data, rng)
        suffix = {"affwild2": ".txt", "elan": ".eaf"}.get(file_format) or rng.choice(
            (".txt", ".eaf"))  # the importer reads only these: BORIS and CSV come disguised
        stem = rng.choice(("single_face",) * 8 + ("single_face_left", "elsewhere"))
        yield number, f"{stem}{suffix}", content


def test_mutated_label_files_are_imported_or_refused_in_one_line_storing_nothing(store):
    url, problems, outcomes = store["url"], [], {"imported": 0, "refused": 0}
    for number, name, content in label_cases(store["seeds"], LABEL_CASES):
        folder = store["folder"] / f"import-{number}"
        folder.mkdir()
        (folder / name).write_bytes(content)
        before = stored_rows(url)
        try:
            status, printed, error = cli("import-labels", str(folder), "--coder", CODER,
                                         "--db", url)
        except Exception as crash:  # a traceback for the coder
            problems.append(f"case {number} ({name}): {type(crash).__name__}: {crash}")
            continue
        if status == 0:
            outcomes["imported"] += 1
            assert printed.splitlines()[-1].startswith("imported 1 label files"), printed
            continue
        outcomes["refused"] += 1
        lines = error.splitlines()
        if status != 2 or len(lines) != 1 or str(folder) not in lines[0]:
            problems.append(f"case {number} ({name}): status {status}, stderr {error!r}")
        if stored_rows(url) != before:
            problems.append(f"case {number} ({name}): refused, yet the store changed")
    assert problems == [], "\n".join(problems[:10])
    assert outcomes["imported"] > 0 and outcomes["refused"] > LABEL_CASES // 2  # both paths ran


VIDEOS = ("single_face.mp4", "no_face.mp4", "single_face_hevc.mov")


def mutated_video(data: bytes, rng: random.Random) -> bytes:
    """The file with bytes of its first KB flipped or zeroed, bytes of its index (the `moov`
    box, where MP4 and MOV keep sizes, codecs and frame tables) changed, or cut short."""
    mutated = bytearray(data)
    index = data.rfind(b"moov") - 4
    operation = rng.choice(("flip", "zero", "index", "flip+index", "cut"))
    if operation in ("flip", "flip+index"):
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(1024)] ^= 1 << rng.randrange(8)
    if operation == "zero":
        start = rng.randrange(1024)
        mutated[start:start + rng.randint(1, 64)] = bytes(rng.randint(1, 64))
    if operation in ("index", "flip+index") and index > 0:
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(index, len(data))] = rng.randrange(256)
    if operation == "cut":
        del mutated[rng.randrange(len(data)):]
    return bytes(mutated)


def video_cases(data_folder: Path, count: int):
    rng = random.Random(SEED)
    clips = {name: (data_folder / name).read_bytes() for name in VIDEOS}
    for number in range(count):
        name = rng.choice(VIDEOS)
        yield number, name, mutated_video(clips[name], rng)


def test_mutated_videos_decode_or_fail_in_one_line(single_face, tmp_path):
    problems, outcomes = [], {"decoded": 0, "refused": 0}
    for number, name, content in video_cases(single_face.parent, VIDEO_CASES):
        path = tmp_path / f"{number}-{name}"
        path.write_bytes(content)
        try:
            open_video(path)
            count_frames(path)
            outcomes["decoded"] += 1
        except InputError as error:
            outcomes["refused"] += 1
            if not str(error).startswith(str(path)) or "\n" in str(error):
                problems.append(f"case {number}: {error!r}")
        except Exception as crash:
            problems.append(f"case {number} ({name}): {type(crash).__name__}: {crash}")
        path.unlink()
    assert problems == [], "\n".join(problems[:10])
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0


def test_a_video_whose_metadata_is_not_utf8_still_opens(single_face, tmp_path):
    """Found by the fuzz: a container title in another encoding made PyAV raise
    UnicodeDecodeError, a traceback instead of a processed video."""
    data = bytearray(single_face.read_bytes())
    encoder = data.find(b"Lavf")  # the encoder tag in the file's metadata
    data[encoder] = 0xA2  # not UTF-8
    path = tmp_path / "latin1.mp4"
    path.write_bytes(bytes(data))
    assert open_video(path).width == 640
    assert count_frames(path) == count_frames(single_face)


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator.cli", *arguments],
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess, command: str, path: Path) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(f"au-annotator {command}: error: {path}")
    assert "CorpusProgress" not in done.stdout  # nothing but the error on a failure
    assert "Traceback" not in done.stdout + done.stderr


def test_the_command_line_refuses_mangled_files_in_one_line(store, single_face, tmp_path):
    """A few cases through the real `au-annotator` process: label folders and videos."""
    url, seeds = store["url"], store["seeds"]
    used_slot = re.search(rb'TIME_SLOT_REF1="([^"]+)"', seeds["elan"]).group(1)
    broken = {  # a time slot missing, a file cut short, a BORIS project under a label name
        "single_face.eaf": re.sub(rb'<TIME_SLOT TIME_SLOT_ID="' + used_slot + rb'"[^>]*/>', b"",
                                  seeds["elan"]),
        "single_face.txt": seeds["affwild2"][:len(seeds["affwild2"]) // 2],
    }
    broken["elsewhere.txt"] = seeds["boris"]
    before = stored_rows(url)
    for name, content in broken.items():
        folder = tmp_path / name.replace(".", "-")
        folder.mkdir()
        (folder / name).write_bytes(content)
        assert_one_line_error(run_cli("import-labels", str(folder), "--coder", CODER,
                                      "--db", url), "import-labels", folder / name)
    assert stored_rows(url) == before

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(single_face.read_bytes()[:150_000])
    videos = tmp_path / "videos.sqlite3"
    assert_one_line_error(run_cli("process", str(cut), "--db", str(videos)), "process", cut)
    with db.open_database(f"sqlite:///{videos}", read_only=True).begin() as session:
        assert db.list_videos(session) == []  # a failed video leaves nothing behind


def test_the_command_line_processes_a_video_with_a_mangled_header(single_face, tmp_path):
    """The first mutated clip of the fuzz that still decodes, through `au-annotator process`:
    stored, and reported in one line of its own."""
    for number, name, content in video_cases(single_face.parent, VIDEO_CASES):
        path = tmp_path / f"{number}-{name}"
        path.write_bytes(content)
        with contextlib.suppress(InputError):
            count_frames(path)
            break
    done = run_cli("process", str(path), "--db", str(tmp_path / "videos.sqlite3"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"{path}: "), done.stdout  # nothing printed before it
    assert "Traceback" not in done.stderr
