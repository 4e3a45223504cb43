"""Every file a sweep writes, read or removes in its results folder, never through a link.

A results folder may be one that others can write to (a shared scratch or group
folder), so a name the sweep uses may hold something else by the time it is used: a
symbolic link to a user's file, a hard link to one, a FIFO, a folder. A
:class:`SafeFolder` opens the results folder once (``O_DIRECTORY | O_NOFOLLOW``) and
reaches every file relative to that descriptor (``openat``), with ``plots/`` and
``models/`` opened the same way, so no link is ever followed, not even one swapped in
for the folder itself while the sweep runs:

- a file is written to a temporary of a unique name, created exclusively
  (``O_CREAT | O_EXCL | O_NOFOLLOW``), and then linked to its name if that name is free
  (``link`` never replaces anything) or renamed over the file of that name if the
  caller has shown it is the sweep's own (a rename replaces a name: it never writes
  into what the name pointed to);
- anything but a regular file with one link where the sweep reads or replaces a file
  is refused in one line naming it (:class:`FolderError`); files are opened with
  ``O_NONBLOCK``, so a FIFO never blocks the sweep;
- a file is removed only after the caller has proved it is the sweep's, by its
  content's SHA-256 (:func:`identity`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from approx.core.errors import ApproxError

__all__ = [
    "SUBFOLDERS", "FolderError", "Identity", "SafeFolder", "describe", "is_temporary",
    "temporary_of",
]

#: the subfolders a sweep writes into (and nothing deeper)
SUBFOLDERS = ("plots", "models")
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW
#: temporaries: ``.<name>.<16 hex>.tmp`` beside ``<name>``; and the fixed names of
#: earlier versions, ``<name>.tmp`` and ``models/<run id>.tmp.npz``
_TEMPORARY = re.compile(r"(?P<dir>(?:plots|models)/)?(?:\.(?P<name>[^/]+)\.[0-9a-f]{16}\.tmp"
                        r"|(?P<old>[^/]+)\.tmp|(?P<run>[^/]+)\.tmp\.npz)\Z")
_CHUNK = 1 << 20
#: link(2) errors of a file system without hard links (some network and FAT mounts)
_NO_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK,
                       errno.ENOSYS})


class FolderError(ApproxError, ValueError):
    """A results folder the sweep may not use as asked; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    """What proves a file is the one the sweep wrote: its content's hash and size, and
    (a shortcut that spares hashing a file unchanged since) its inode and mtime."""

    sha256: str
    size: int
    inode: int
    mtime_ns: int


def describe(st: os.stat_result) -> str | None:
    """What is in a name's place, if it is not a regular file with one link."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None if st.st_nlink == 1 else f"a file with {st.st_nlink} hard links"
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
    return next((kind for test, kind in kinds if test(mode)), "a device")


def is_temporary(relative: str) -> bool:
    """Whether ``relative`` is the name of a temporary a sweep writes (this version's or
    an earlier one's)."""
    return temporary_of(relative) is not None


def temporary_of(relative: str) -> str | None:
    """The file ``relative`` is a temporary of, if it is a temporary's name."""
    match = _TEMPORARY.match(relative)
    if match is None:
        return None
    base = match["name"] or match["old"] or f"{match['run']}.npz"
    return (match["dir"] or "") + base


def _hash(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


class SafeFolder:
    """A results folder opened once; its files reached relative to its descriptor.

    Relative names are ``name`` or ``plots/name`` or ``models/name``. Close it (or use it
    as a context manager) to release the descriptors.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self._subs: dict[str, int] = {}

    @classmethod
    def open(cls, path: Path, *, create: bool) -> SafeFolder:
        """Open the folder ``path`` (creating it, and its parents, if asked).

        Raises
        ------
        FolderError
            If ``path`` is a symbolic link or not a folder (one line).
        OSError
            If the folder cannot be created or opened.
        """
        path = Path(path)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
        try:
            return cls(path, os.open(path, _DIR))
        except OSError as e:
            st = _lstat(path)
            if st is None or stat.S_ISDIR(st.st_mode):
                raise
            what = describe(st) if not stat.S_ISREG(st.st_mode) else "a file"
            raise FolderError(f"{path} is {what}, not a folder; choose another --out") from e

    def close(self) -> None:
        """Release the folder's descriptors."""
        for fd in self._subs.values():
            os.close(fd)
        self._subs.clear()
        os.close(self.fd)

    def __enter__(self) -> SafeFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refuse(self, relative: str, what: str) -> FolderError:
        """The one-line refusal for ``what`` found at ``relative``."""
        return FolderError(
            f"{self.path / relative} is {what}, which the sweep never writes through or "
            "over; move it away or choose another --out"
        )

    def _sub(self, name: str, create: bool) -> int | None:
        """The descriptor of subfolder ``name`` (created if asked), or None if absent."""
        if name not in self._subs:
            if create:
                try:
                    os.mkdir(name, 0o755, dir_fd=self.fd)
                except FileExistsError:
                    pass
            try:
                self._subs[name] = os.open(name, _DIR, dir_fd=self.fd)
            except FileNotFoundError:
                return None
            except OSError:
                st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
                raise self.refuse(name, describe(st) or "a file") from None
        return self._subs[name]

    def make_subfolder(self, name: str) -> None:
        """Create subfolder ``name`` (``plots`` or ``models``) if it is absent.

        Raises
        ------
        FolderError
            If something else (a link, a file) has its name.
        """
        if name not in SUBFOLDERS:
            raise ValueError(f"not a subfolder of a results folder: {name!r}")
        self._sub(name, create=True)

    def where(self, relative: str, *, create: bool = False) -> tuple[int, str] | None:
        """The folder descriptor and name of ``relative`` (None if its subfolder is absent).

        Raises
        ------
        ValueError
            If ``relative`` is not a name the sweep uses (``..``, absolute, deeper).
        """
        parts = relative.split("/")
        name = parts[-1]
        if (len(parts) > 2 or name in ("", ".", "..")
                or (len(parts) == 2 and parts[0] not in SUBFOLDERS)):
            raise ValueError(f"not a name of a results folder: {relative!r}")
        if len(parts) == 1:
            return self.fd, name
        sub = self._sub(parts[0], create)
        return None if sub is None else (sub, name)

    def lstat(self, relative: str) -> os.stat_result | None:
        """The file's status (a link's own, not its target's), or None if absent."""
        place = self.where(relative)
        if place is None:
            return None
        try:
            return os.stat(place[1], dir_fd=place[0], follow_symlinks=False)
        except FileNotFoundError:
            return None

    def regular(self, relative: str) -> os.stat_result | None:
        """The status of ``relative`` if it is a regular file with one link; None if absent.

        Raises
        ------
        FolderError
            If anything else is in its place (one line naming it).
        """
        st = self.lstat(relative)
        if st is not None and (what := describe(st)) is not None:
            raise self.refuse(relative, what)
        return st

    def _open_regular(self, relative: str, flags: int) -> int | None:
        """Open an existing regular single-link file, never following a link or blocking."""
        place = self.where(relative)
        if place is None:
            return None
        try:
            fd = os.open(place[1], flags | _NOFOLLOW | os.O_NONBLOCK, dir_fd=place[0])
        except FileNotFoundError:
            return None
        except OSError:
            self.regular(relative)  # a link or a folder: say which
            raise
        st = os.fstat(fd)
        if (what := describe(st)) is not None:
            os.close(fd)
            raise self.refuse(relative, what)
        return fd

    def read(self, relative: str, limit: int | None = None) -> bytes | None:
        """The content (its first ``limit`` bytes if given), or None if absent."""
        fd = self._open_regular(relative, os.O_RDONLY)
        if fd is None:
            return None
        try:
            size = os.fstat(fd).st_size if limit is None else limit
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)

    def identity(self, relative: str) -> Identity | None:
        """The identity of the regular single-link file ``relative``, or None if absent."""
        fd = self._open_regular(relative, os.O_RDONLY)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            return Identity(_hash(fd), st.st_size, st.st_ino, st.st_mtime_ns)
        finally:
            os.close(fd)

    def temporary(self, relative: str) -> str:
        """A fresh unique temporary name beside ``relative`` (not yet created)."""
        head, _, name = relative.rpartition("/")
        return f"{head}/" * bool(head) + f".{name}.{secrets.token_hex(8)}.tmp"

    def create_empty(self, relative: str) -> None:
        """Create ``relative`` as a new empty file (never over anything)."""
        dir_fd, name = self.where(relative, create=True)  # type: ignore[misc]
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644,
                         dir_fd=dir_fd))

    def write(self, relative: str, temporary: str, fill: Callable[[BinaryIO], object], *,
              replace: bool) -> Identity:
        """Write ``relative`` through the new file ``temporary``; return its identity.

        ``fill`` writes the content to a binary file. The temporary is created
        exclusively and then linked to ``relative`` if no file has that name, or, with
        ``replace`` (the caller has shown the file there is the sweep's), renamed over
        it. A failure removes the temporary.

        Raises
        ------
        FolderError
            If ``relative`` is taken (by anything, when not ``replace``; by anything but
            a regular single-link file, when ``replace``).
        """
        dir_fd, tmp = self.where(temporary, create=True)  # type: ignore[misc]
        _, name = self.where(relative, create=True)  # type: ignore[misc]
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644,
                         dir_fd=dir_fd)
        except FileExistsError:
            raise self.refuse(temporary, _taken(self.lstat(temporary))) from None
        try:
            with os.fdopen(os.dup(fd), "wb") as file:
                fill(file)
            st = os.fstat(fd)
            made = Identity(_hash(fd), st.st_size, st.st_ino, st.st_mtime_ns)
            if replace:
                self.regular(relative)
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                self._link(tmp, name, relative, dir_fd)
        except BaseException:
            _unlink_quietly(tmp, dir_fd)
            raise
        finally:
            os.close(fd)
        return made

    def _link(self, tmp: str, name: str, relative: str, dir_fd: int) -> None:
        """Give the temporary ``tmp`` the free name ``name`` (of ``relative``), never
        replacing anything; on a file system without hard links, rename it there after
        checking the name is still free."""
        try:
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            raise self.refuse(relative, _taken(self.lstat(relative))) from None
        except OSError as e:
            if e.errno not in _NO_LINKS:
                raise
            if self.lstat(relative) is not None:
                raise self.refuse(relative, _taken(self.lstat(relative))) from None
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return
        os.unlink(tmp, dir_fd=dir_fd)

    def remove(self, relative: str) -> None:
        """Remove the name ``relative`` (never what a link points to)."""
        place = self.where(relative)
        if place is not None:
            os.unlink(place[1], dir_fd=place[0])

    def remove_empty_subfolders(self) -> None:
        """Remove ``plots/`` and ``models/`` if they hold nothing."""
        for name in SUBFOLDERS:
            fd = self._subs.pop(name, None)
            if fd is not None:
                os.close(fd)
            try:
                os.rmdir(name, dir_fd=self.fd)
            except OSError:  # absent, not empty, or not a folder: left as it is
                pass

    def is_same(self) -> bool:
        """Whether the folder's path still names the folder opened (SQLite opens by path)."""
        try:
            now = os.stat(self.path)
        except OSError:
            return False
        held = os.fstat(self.fd)
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _taken(st: os.stat_result | None) -> str:
    if st is None:
        return "a name taken while the sweep wrote it"
    return describe(st) or "a file the sweep did not create"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
