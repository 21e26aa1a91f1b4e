"""Where ``qms export`` writes: checks of the output path made before any work, and writes
that leave a complete file (or folder) or nothing, never through a link."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from qms.errors import Conflict, NotFound, PermissionDenied, ValidationError
from qms.store.project import Project


def _inside_records(project: Project, path: Path) -> bool:
    """``path`` (resolved) is, or lies in, what qms owns: the records, its state, users and
    agents, the project settings."""
    owned = [project.qms, project.state_dir, project.root / ".claude",
             project.root / "qms.config.json"]
    return any(path == p or p in path.parents for p in (o.resolve() for o in owned))


def target_file(project: Project, output: str, force: bool) -> Path:
    """Check ``output`` before any work: a new file in an existing folder outside the
    project's records; an existing regular file only with ``force``."""
    parent, target = _outside_records(project, output, "An output file is required "
                                      "(--output FILE).")
    kind = _kind(target)
    if kind == "folder":
        raise ValidationError(f"{output} is a folder; give a file name "
                              "(or export --all --output FOLDER).")
    if kind in ("link", "special"):
        what = "symbolic link" if kind == "link" else "special file"
        raise PermissionDenied(f"{output} is a {what}; refusing to write through it.")
    if kind == "file" and not force:
        raise Conflict(f"{output} exists; use --force to replace it.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionDenied(f"Cannot write {output}: the folder {parent} is not writable.")
    return target


def target_folder(project: Project, output: str, force: bool) -> tuple[Path, bool]:
    """``(folder, fresh)``: a folder to create (fresh) or an existing real one, empty unless
    ``force``."""
    parent, target = _outside_records(project, output, "An output folder is required "
                                      "(--all --output FOLDER).")
    kind = _kind(target)
    if kind in ("link", "special", "file"):
        raise ValidationError(f"{output} is a {'symbolic link' if kind == 'link' else kind}, "
                              "not a folder.")
    if not os.access(parent if kind is None else target, os.W_OK | os.X_OK):
        raise PermissionDenied(f"Cannot write into {output}: permission denied.")
    if kind == "folder" and any(os.scandir(target)) and not force:
        raise Conflict(f"{output} is not empty; use --force to replace files of the same "
                       "names in it.")
    return target, kind is None


def _outside_records(project: Project, output: str, missing: str) -> tuple[Path, Path]:
    """``(existing parent folder, target)`` of ``output``, refused inside the project's
    records."""
    if not output or not str(output).strip():
        raise ValidationError(missing)
    path = Path(os.path.abspath(os.path.expanduser(output)))
    parent = _existing_folder(path.parent, output)
    target = parent / path.name
    if _inside_records(project, target):
        raise PermissionDenied(f"{output} is inside what qms owns in the project (QMS/, "
                               ".qms/, .claude/, qms.config.json); write the export elsewhere.")
    return parent, target


def _existing_folder(folder: Path, output: str) -> Path:
    try:
        real = folder.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Cannot write {output}: the folder {folder} does not exist.") from None
    except OSError as exc:
        raise ValidationError(f"Cannot write {output}: {exc.strerror}.") from None
    if not real.is_dir():
        raise ValidationError(f"Cannot write {output}: {folder} is not a folder.")
    return real


def _kind(path: Path) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "special"


def write(target: Path, data: bytes, force: bool) -> None:
    """A complete file or none: written to a hidden temporary name beside it, synced, then
    linked into place (never over an existing name) or, with ``force``, renamed over the
    regular file there. Nothing is ever written through a link."""
    tmp = target.with_name(f".{target.name}.qms-tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        kind = _kind(target)
        if kind not in (None, "file") or (kind == "file" and not force):
            raise Conflict(f"{target} appeared while exporting (a {kind}); nothing replaced.")
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target, follow_symlinks=False)
            except FileExistsError:
                raise Conflict(f"{target} appeared while exporting; nothing replaced.") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def write_folder(folder: Path, fresh: bool, files: list[tuple[str, bytes]],
                  force: bool) -> None:
    """A new folder appears whole (built under a hidden name, then renamed into place);
    into an existing one each file is written like a single export."""
    if not fresh:
        for name, data in files:
            write(folder / name, data, force)
        return
    tmp = folder.with_name(f".{folder.name}.qms-tmp-{os.getpid()}")
    os.mkdir(tmp, 0o755)
    try:
        for name, data in files:
            write(tmp / name, data, False)
        try:
            os.rename(tmp, folder)  # refuses a non-empty folder that appeared meanwhile
        except OSError:
            raise Conflict(f"{folder} appeared while exporting; nothing written.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
