"""Opening a file of the library without following links: what is read is what the name check saw.

A name is checked (plain, visible, audio) before its file is opened, so a symbolic link swapped in between
would otherwise be followed to anywhere on the machine, and a FIFO swapped in would block the thread
forever. Every open of a library file goes through `open_regular`: `O_NOFOLLOW` refuses a link, `O_NONBLOCK`
keeps a FIFO from blocking the open, and `fstat` of the opened descriptor must show a regular file.
"""

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegularFileError(FileNotFoundError):
    """The name holds a link, a folder, a FIFO or a device rather than a plain file: for us it does not exist."""


def open_regular(path: Path, *, buffered: bool = True) -> BinaryIO:
    """Open `path` for reading if it is a regular file itself; raise NotRegularFileError if it is anything else.

    Raises FileNotFoundError (NotRegularFileError included) for a missing file or one that is not a plain file, and
    other OSErrors (PermissionError...) as they come.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a link
            raise NotRegularFileError(error.errno, f"{path.name} is a symbolic link", str(path)) from error
        raise
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotRegularFileError(errno.ENOENT, f"{path.name} is not a plain file", str(path))
        return os.fdopen(descriptor, "rb", buffering=-1 if buffered else 0)
    except BaseException:
        os.close(descriptor)
        raise
