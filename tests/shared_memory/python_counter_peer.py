"""A peer of the shared_memory kata's SharedCounter that shares no code with
it: Python's own mmap of the POSIX object in /dev/shm, and glibc's sem_*
called through ctypes on the semaphore inside the mapping. It knows only the
layout the exercise README documents ("On the wire"): the lock, a sem_t, at
offset 0, the value, a little-endian int64, at offset 32, 40 bytes in all.

  python_counter_peer.py NAME add TIMES   TIMES increments under the lock
  python_counter_peer.py NAME hold SECONDS  takes the lock, says "held",
                                            keeps it SECONDS, releases it
  python_counter_peer.py NAME try          "free" or "taken" (sem_trywait)

Exit status: 0 done, 2 the lock stayed taken for 10 s, 1 anything else.
"""

import ctypes
import errno
import mmap
import os
import struct
import sys
import time

LOCK_AT, VALUE_AT, SIZE = 0, 32, 40
WAIT_SECONDS = 10


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def open_counter(name):
    fd = os.open("/dev/shm/" + name.lstrip("/"), os.O_RDWR)
    mapping = mmap.mmap(fd, SIZE, mmap.MAP_SHARED,
                        mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    # The address of the mapping, for glibc: a ctypes view of its bytes.
    view = (ctypes.c_char * SIZE).from_buffer(mapping)
    return mapping, view


def main(name, command, argument=None):
    mapping, view = open_counter(name)
    try:
        run(mapping, ctypes.c_void_p(ctypes.addressof(view) + LOCK_AT),
            command, argument)
    finally:
        del view  # the mapping cannot close while a view exports it
        mapping.close()


def run(mapping, lock, command, argument):
    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def take():
        now = time.clock_gettime(time.CLOCK_REALTIME) + WAIT_SECONDS
        deadline = Timespec(int(now), int((now % 1) * 1e9))
        while libc.sem_timedwait(lock, ctypes.byref(deadline)) != 0:
            code = ctypes.get_errno()
            if code == errno.ETIMEDOUT:
                print("the lock at offset 0 stayed taken for "
                      f"{WAIT_SECONDS} s", flush=True)
                sys.exit(2)
            if code != errno.EINTR:
                raise OSError(code, "sem_timedwait: " + os.strerror(code))

    def release():
        if libc.sem_post(lock) != 0:
            code = ctypes.get_errno()
            raise OSError(code, "sem_post: " + os.strerror(code))

    if command == "add":
        for _ in range(int(argument)):
            take()
            (value,) = struct.unpack_from("<q", mapping, VALUE_AT)
            struct.pack_into("<q", mapping, VALUE_AT, value + 1)
            release()
        print(f"added {argument}", flush=True)
    elif command == "hold":
        take()
        print("held", flush=True)
        time.sleep(float(argument))
        release()
    elif command == "try":
        if libc.sem_trywait(lock) == 0:
            release()
            print("free", flush=True)
        elif ctypes.get_errno() == errno.EAGAIN:
            print("taken", flush=True)
        else:
            code = ctypes.get_errno()
            raise OSError(code, "sem_trywait: " + os.strerror(code))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
