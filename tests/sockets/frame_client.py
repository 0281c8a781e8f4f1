"""A client of the sockets kata's echo server, written with nothing but
Python's standard library: it knows the frame format and nothing else of the
kata (a 4-byte big-endian length, then that many bytes).

    python3 tests/sockets/frame_client.py tcp:127.0.0.1:PORT [FRAMES]
    python3 tests/sockets/frame_client.py unix:/tmp/echo [FRAMES]
    python3 tests/sockets/frame_client.py unix-abstract:echo [FRAMES]

It sends FRAMES frames (20 unless given) one at a time, checks that each
comes back unchanged, half-closes (shutdown SHUT_WR) and expects end of
stream. Prints "ok: ..." and exits 0, or says what went wrong and exits 1 (a
receive that waits more than 5 seconds is an error too).
The kata's Stage 7 tests run it against the reference server.
"""

import socket
import struct
import sys


def connect(endpoint):
    kind, _, rest = endpoint.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return socket.create_connection((host, int(port)))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if kind == "unix":
        sock.connect(rest)
    elif kind == "unix-abstract":
        # A leading NUL byte: Python passes the exact length, NUL and name.
        sock.connect("\0" + rest)
    else:
        raise ValueError("unknown endpoint kind: " + endpoint)
    return sock


def receive_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break  # end of stream
        data += chunk
    return data


def send_frame(sock, payload):
    sock.sendall(struct.pack("!I", len(payload)) + payload)


def receive_frame(sock):
    """The next payload, or None at end of stream between frames."""
    header = receive_exactly(sock, 4)
    if not header:
        return None
    if len(header) < 4:
        raise EOFError("the stream ended inside a frame header")
    (size,) = struct.unpack("!I", header)
    payload = receive_exactly(sock, size)
    if len(payload) < size:
        raise EOFError("the stream ended inside a frame")
    return payload


def main():
    endpoint = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with connect(endpoint) as sock:
        # A server that never answers (or never closes) is an error, not a
        # hang: give up on any single receive after 5 seconds.
        sock.settimeout(5)
        for i in range(count):
            payload = ("frame %d from Python " % i).encode() + bytes(range(256)) * (i % 4)
            send_frame(sock, payload)
            reply = receive_frame(sock)
            if reply != payload:
                print("frame %d: sent %d bytes, got back %r"
                      % (i, len(payload), reply if reply is None else reply[:40]))
                return 1
        sock.shutdown(socket.SHUT_WR)
        extra = receive_frame(sock)
        if extra is not None:
            print("expected end of stream after the last reply, got a frame")
            return 1
    print("ok: %d frames echoed over %s" % (count, endpoint))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError) as error:
        print("failed: %s" % error)
        sys.exit(1)
