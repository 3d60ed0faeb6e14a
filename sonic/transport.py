"""The connections under requests: an upload's file goes from the page cache to the socket with sendfile.

Read into Python and written out again, every byte of a file is copied twice more; sendfile hands the
file's pages to the kernel. On a 400 MB upload to a server on loopback that saves about 0.06 s of the
client's 0.28 s of CPU (bench/bench_upload.py): CPU that a loaded machine would otherwise take from the
server the file is going to, and whose pace sets the upload's.
"""

import socket
from typing import Any

import requests
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from sonic.multipart import CHUNK_SIZE, FileRun


class SendfileConnection(HTTPConnection):
    """A plain-HTTP connection that sends a FileRun with sendfile; every other piece as http.client does."""

    def send(self, data: Any) -> None:
        # A socket of another kind (TLS to a proxy, SOCKS) cannot sendfile: http.client reads the run instead.
        if isinstance(data, FileRun) and type(self.sock) is socket.socket:
            # socket.sendfile waits for room within the socket's timeout, as sendall does, and seeks the file
            # past what it sent, where the body looks to tell a file that shrank.
            self.sock.sendfile(data.file, data.offset, data.size)
        else:
            super().send(data)


class SendfileConnectionPool(HTTPConnectionPool):
    """The pool of plain-HTTP connections that send files with sendfile."""

    ConnectionCls = SendfileConnection


class UploadAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with sendfile for plain HTTP, and chunk-sized reads where a file must be read."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        # blocksize: how much http.client reads of a file at a time (TLS, proxies); urllib3's default is 16 KiB.
        super().init_poolmanager(connections, maxsize, block, blocksize=CHUNK_SIZE, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "http": SendfileConnectionPool,
        }
