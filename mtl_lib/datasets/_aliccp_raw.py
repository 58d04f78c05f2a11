"""Ali-CCP's raw lines and output files: parsing, ids, the common-feature join, gzip shards.

The low-level half of `mtl_lib.datasets.aliccp`, which holds the passes and the public API.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mtl_lib.data.bags import PAD, format_bags
from mtl_lib.datasets.encoding import ids_of

CHUNK_BYTES = 32 * 2**20
_GZIP_LEVEL = 1  # the fastest; files ~10 % larger than at level 6, read as fast


# ------------------------------------------------------------------------------- parsing
class _Parser:
    """Raw lines → the kept fields' feature ids (-1 where a field is absent), checked.

    A row holds the single-valued `fields`' ids, then `length` slots per bag of `bags`:
    that field's ids in line order, the first `length` of them, then -1 (`PAD`). A line's
    kept items are found in C (one regular expression over the line); only they are looked
    at in Python, so long bags of dropped fields cost little.
    """

    def __init__(self, fields: Sequence[str], bags: Sequence[str] = (), length: int = 1) -> None:
        self.keys = [f.encode() for f in fields]
        self.bags, self.length = [b.encode() for b in bags], length
        self.width = len(self.keys) + len(self.bags) * length  # ids per row
        self.column = {k: j for j, k in enumerate(self.keys + self.bags)}
        either = b"|".join(re.escape(k) for k in self.keys + self.bags)
        # Matched against "\x01" + the list: a plain literal start is ~4x faster than "^|\x01".
        self.item = re.compile(rb"\x01(" + either + rb")\x02([^\x01\x02\x03]*)\x03")
        one = rb"[^\x01-\x03]+\x02[^\x01-\x03]*\x03[^\x01-\x03]*"
        self.shape = re.compile(one + rb"(?:\x01" + one + rb")*")
        self.repeated = np.zeros(len(self.keys), np.int64)  # repeats of a field in a line

    def features(
        self, text: bytes, count: bytes, path: RawFile, line: int
    ) -> tuple[list[int], list[bool]]:
        r"""One feature list's row of ids (checked against its count), and which bags were cut.

        The `\x03value` part of an item is not used, a bag's counts included.
        """
        try:
            expected = int(count)
        except ValueError:
            raise _error(
                path, line, f"feature_count {count.decode()!r} is not an integer"
            ) from None
        items = text.count(b"\x01") + 1 if text else 0
        if items != expected:
            raise _error(
                path, line, f"feature_count is {expected}, but the feature list has {items} items"
            )
        if text and not self.shape.fullmatch(text):
            raise _error(
                path,
                line,
                "the feature list is not items field_id\\x02feature_id\\x03value joined by \\x01",
            )
        singles, length = len(self.keys), self.length
        row, filled = [-1] * self.width, [0] * len(self.bags)  # ids seen per bag
        for field, feature in self.item.findall(b"\x01" + text):
            j = self.column[field]
            try:
                value = int(feature)
            except ValueError:
                value = -1
            if value < 0:
                raise _error(
                    path,
                    line,
                    f"feature id {feature.decode()!r} of field {field.decode()} is not a "
                    "non-negative integer",
                )
            if j < singles:
                if row[j] != -1:
                    self.repeated[j] += 1
                row[j] = value
            else:
                b = j - singles
                if filled[b] < length:
                    row[singles + b * length + filled[b]] = value
                filled[b] += 1
        return row, [n > length for n in filled]

    def skeleton(self, chunk: list[bytes], first: int, path: RawFile) -> tuple:
        """`(labels (n, 2) int8, keys, ids (n, width) int64, cut (n, bags) bool, line numbers)`.

        Blank lines are skipped.
        """
        labels, keys, rows, cuts, lines = [], [], [], [], []
        for line, raw in enumerate(chunk, start=first):
            parts = raw.rstrip(b"\r\n").split(b",")
            if parts == [b""]:
                continue
            if len(parts) != 6:
                raise _error(
                    path,
                    line,
                    "expected 6 comma-separated columns (sample_id, click, conversion, "
                    f"common_feature_index, feature_count, feature_list), got {len(parts)}",
                )
            _, click, conversion, key, count, text = parts
            for name, value in (("click", click), ("conversion", conversion)):
                if value not in (b"0", b"1"):
                    raise _error(path, line, f"{name} must be 0 or 1, got {value.decode()!r}")
            labels.append((click == b"1", conversion == b"1"))
            keys.append(key)
            row, cut = self.features(text, count, path, line)
            rows.append(row)
            cuts.append(cut)
            lines.append(line)
        labels = np.array(labels, dtype=np.int8).reshape(len(lines), 2)
        return labels, keys, *self._arrays(rows, cuts), np.array(lines, np.int64)

    def common(self, chunk: list[bytes], first: int, path: RawFile) -> tuple:
        """`(keys, ids (n, width) int64, cut (n, bags) bool, line numbers)` of common lines."""
        keys, rows, cuts, lines = [], [], [], []
        for line, raw in enumerate(chunk, start=first):
            parts = raw.rstrip(b"\r\n").split(b",")
            if parts == [b""]:
                continue
            if len(parts) != 3:
                raise _error(
                    path,
                    line,
                    "expected 3 comma-separated columns (common_feature_index, "
                    f"feature_count, feature_list), got {len(parts)}",
                )
            keys.append(parts[0])
            row, cut = self.features(parts[2], parts[1], path, line)
            rows.append(row)
            cuts.append(cut)
            lines.append(line)
        return keys, *self._arrays(rows, cuts), np.array(lines, np.int64)

    def _arrays(self, rows: list[list[int]], cuts: list[list[bool]]) -> tuple:
        ids = np.array(rows, np.int64).reshape(len(rows), self.width)
        return ids, np.array(cuts, bool).reshape(len(rows), len(self.bags))


class RawFile:
    """One raw file: on disk, or a member of a `.tar.gz` archive read without extracting it.

    An archive member is decompressed as it is read; seeking to an offset (to resume)
    decompresses everything before it again, so a pass over a member costs a pass over
    the archive up to its end.

    Attributes:
        name: The file's own name, e.g. `sample_skeleton_train.csv`.
        size: Its size in bytes, uncompressed.
        path: The file, or the archive holding it.
        member: Its name inside the archive, or `None` for a file on disk.
    """

    def __init__(self, name: str, size: int, path: Path, member: str | None = None) -> None:
        self.name, self.size, self.path, self.member = name, size, path, member

    def __str__(self) -> str:
        return str(self.path) if self.member is None else f"{self.path}:{self.member}"

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """The file, opened for binary reading (seekable, as a member is too)."""
        if self.member is None:
            with open(self.path, "rb") as f:
                yield f
            return
        with tarfile.open(self.path, "r:gz") as archive:
            f = archive.extractfile(self.member)
            if f is None:
                raise ValueError(f"{self}: not a regular file in the archive")
            with f:
                yield f


def find_raw(folder: Path, name: str) -> RawFile:
    """`name` in `folder`, or else inside one of its `.tar.gz` archives (in name order).

    Raises:
        FileNotFoundError: naming the file and the archives searched.
    """
    path = folder / name
    if path.is_file():
        return RawFile(name, path.stat().st_size, path)
    archives = sorted(folder.glob("*.tar.gz")) if folder.is_dir() else []
    for archive in archives:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:  # headers in order: stops at the first match
                    if member.isfile() and Path(member.name).name == name:
                        return RawFile(name, member.size, archive, member.name)
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ValueError(f"{archive}: not a readable .tar.gz archive ({err})") from None
    searched = f" nor in {', '.join(a.name for a in archives)}" if archives else ""
    raise FileNotFoundError(
        f"{path}: raw file not found{searched} (the release's .tar.gz archives are read "
        "as they are, or extracted into this folder)"
    )


def _error(path: RawFile | Path, line: int, problem: str) -> ValueError:
    return ValueError(f"{path}, line {line}: {problem}")


def _read_lines(f: BinaryIO, max_lines: int) -> list[bytes]:
    """Up to `max_lines` lines of `f`, stopping early past `CHUNK_BYTES` bytes."""
    lines, size = [], 0
    while len(lines) < max_lines and size < CHUNK_BYTES:
        line = f.readline()
        if not line:
            break
        lines.append(line)
        size += len(line)
    return lines


# ------------------------------------------------------------------------- ids and join
def _held_out(lines: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each line number is held out: a splitmix64 hash below `fraction`."""
    z = lines.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) < np.uint64(int(fraction * 2**53))


def _add_counts(keys: np.ndarray, counts: np.ndarray, ids: np.ndarray) -> tuple:
    """Sorted `(keys, counts)` with the ids of `ids` (-1 skipped) added: O(distinct ids)."""
    new, new_counts = np.unique(ids[ids >= 0], return_counts=True)
    pos = np.searchsorted(keys, new)
    hit = pos < len(keys)
    hit[hit] = keys[pos[hit]] == new[hit]
    counts[pos[hit]] += new_counts[hit]
    miss = ~hit
    return np.insert(keys, pos[miss], new[miss]), np.insert(counts, pos[miss], new_counts[miss])


def _add_bag_counts(keys: np.ndarray, counts: np.ndarray, bags: np.ndarray) -> tuple:
    """`_add_counts` for bags `(rows, length)`: an id counts once per row it appears in."""
    bags = np.sort(bags, axis=1)
    bags[:, 1:][bags[:, 1:] == bags[:, :-1]] = PAD  # repeats within a row
    return _add_counts(keys, counts, bags.ravel())


def _encode(raw: np.ndarray, kept: list[np.ndarray]) -> np.ndarray:
    """Id `i + 1` for the raw id `kept[j][i]` of column `j`, 0 for any other raw id."""
    out = np.zeros(raw.shape, np.int32)
    for j, ids in enumerate(kept):
        out[:, j] = ids_of(ids, raw[:, j])
    return out


def _encode_bags(raw: np.ndarray, kept: list[np.ndarray], length: int) -> np.ndarray:
    """`_encode` for bags: `raw` is one block of `length` slots per bag; `PAD` stays `PAD`."""
    ids = _encode(raw, [bag for bag in kept for _ in range(length)])
    return np.where(raw == PAD, PAD, ids).astype(np.int32)


@dataclass
class _CommonIndex:
    """The kept fields of each common-features line: sorted keys, ids `(lines, width)`.

    `cut` `(lines, bags)` says which bags were cut to their length; the last
    `bags * length` columns of `values` are the bags' slots (`_Parser`'s row).
    """

    keys: np.ndarray
    values: np.ndarray
    path: RawFile
    cut: np.ndarray
    length: int = 1

    def join(
        self,
        keys: list[bytes],
        raw: np.ndarray,
        cut: np.ndarray,
        path: RawFile,
        lines: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exposures' ids and cut bags with their common features filled in.

        The common value wins: a single-valued field present in the common line, or a bag
        that is not empty there, replaces the exposure's own (a bag as a whole).
        """
        wanted = np.array(keys, dtype=bytes)
        pos = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        found = self.keys[pos] == wanted
        if not found.all():
            i = int(np.argmin(found))
            key = keys[i].decode()
            raise _error(path, int(lines[i]), f"common_feature_index {key!r} is not in {self.path}")
        values = self.values[pos]
        present = values >= 0
        bags = self.cut.shape[1]
        if not bags:
            return np.where(present, values, raw), cut
        first = values.shape[1] - bags * self.length + self.length * np.arange(bags)
        whole = present[:, first]  # the common line's bag is not empty
        present[:, first[0] :] = np.repeat(whole, self.length, axis=1)
        return np.where(present, values, raw), np.where(whole, self.cut[pos], cut)


# ------------------------------------------------------------------------------- output
def _csv(rows: np.ndarray, bags: np.ndarray | None = None, at: int = 0, length: int = 1) -> bytes:
    """Integer rows as CSV lines; `bags` (blocks of `length` slots) as cells before column `at`.

    A bag's cell is its ids joined by `|` (`mtl_lib.data.bags.format_bags`), empty if none.
    """
    if not len(rows):
        return b""
    if bags is None or not bags.shape[1]:
        line = ",".join(["%d"] * rows.shape[1])
        return ("\n".join(line % tuple(r) for r in rows.tolist()) + "\n").encode()
    head, tail = ",".join(["%d"] * at), ",".join(["%d"] * (rows.shape[1] - at))
    cells = [format_bags(bags[:, s : s + length]) for s in range(0, bags.shape[1], length)]
    text = (
        ",".join((head % tuple(r[:at]), *c, tail % tuple(r[at:])))
        for r, *c in zip(rows.tolist(), *cells, strict=True)
    )
    return ("\n".join(text) + "\n").encode()


class _GzipShard:
    """A gzip file of one member, its header without file name or time: same rows, same bytes."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb")  # closed by `close`
        self.gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self.file, compresslevel=_GZIP_LEVEL, mtime=0
        )

    def write(self, data: bytes) -> None:
        self.gzip.write(data)

    def close(self) -> None:
        self.gzip.close()  # writes the trailer; leaves `file` open
        self.file.close()


def _atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` under a temporary name, then rename: never a half-written `path`."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as f:
        write(f)
    temporary.replace(path)


class _Progress:
    """A progress line on stderr: stage, share of the file done, lines per second."""

    def __init__(self, enabled: bool, stage: str, total: int) -> None:
        self.enabled, self.stage, self.total = enabled, stage, max(total, 1)
        self.start = self.shown = time.perf_counter()
        self.interval = 0.5 if sys.stderr.isatty() else 30.0
        self.done = self.lines = 0

    def update(self, done: int, lines: int) -> None:
        self.done, self.lines = done, lines
        now = time.perf_counter()
        if self.enabled and now - self.shown >= self.interval:
            self.shown = now
            self._show("\r" if self.interval < 1 else "\n")

    def close(self) -> None:
        if self.enabled:
            self.done = self.total
            self._show("\n")

    def _show(self, end: str) -> None:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        share = min(self.done / self.total, 1.0)
        left = f"{elapsed * (1 - share) / share:,.0f} s left" if share else "starting"
        print(
            f"aliccp: {self.stage}: {share:4.0%} of {self.total / 1e9:.2f} GB, "
            f"{self.lines:,} lines, {self.lines / elapsed:,.0f} lines/s, {left}",
            end=end,
            file=sys.stderr,
            flush=True,
        )
