#!/usr/bin/env python3
"""A server broken the ways a reader's first try may be, for tests/test_check.py.

It follows the server contract's start (`--port 0`, the `listening on` line), then answers
every connection wrongly, as BROKEN says:
  bare-newlines  the right response with "\\n" instead of "\\r\\n"
  silent         closes without answering
  hang           reads the request, then answers nothing for 3 s
  reset          resets the connection instead of answering
  refuse         closes its listener, then announces its port
"""
import os
import socket
import struct
import sys
import time

mode = os.environ.get("BROKEN", "bare-newlines")
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(128)
port = listener.getsockname()[1]
if mode == "refuse":
    listener.close()  # before the announcement: a client that came earlier would be reset
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    time.sleep(30)
    sys.exit(0)
print(f"listening on http://127.0.0.1:{port}", flush=True)
while True:
    connection, _ = listener.accept()
    connection.recv(1024)
    print("a request", flush=True)
    print(f"broken on purpose: {mode}", file=sys.stderr, flush=True)
    if mode == "bare-newlines":
        connection.sendall(b"HTTP/1.1 200 OK\nContent-Length: 12\nConnection: close\n\nHello world!")
    elif mode == "hang":
        time.sleep(3)
    elif mode == "reset":
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
