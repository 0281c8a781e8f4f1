"""A System V message queue peer written with python3-sysv-ipc, a library
that nobody in this project wrote: the message_queue kata's SysvQueue must
interoperate with it (sysv_ipc_interop_test.cc).

Usage: /usr/bin/python3 sysv_ipc_peer.py KEY COMMAND

  send     sends "three" (type 3), "one-a" (1), "two" (2), "one-b" (1)
  receive  receives with type 2, then -2 (lowest type up to 2), then 0 (any)
           twice, and prints "<type> <text>" for each
  wait     blocks in a receive until the queue is removed, then prints the
           error the library raised
  remove   removes the queue

Exit status 0 when the command did what it says; 2 when sysv_ipc is missing.
"""

import sys

try:
    import sysv_ipc
except ImportError:
    print("python3-sysv-ipc is not installed (tools/setup.sh installs it)")
    sys.exit(2)


def main():
    key, command = int(sys.argv[1]), sys.argv[2]
    queue = sysv_ipc.MessageQueue(key)  # the queue the kata made: no flags
    if command == "send":
        for text, kind in (("three", 3), ("one-a", 1), ("two", 2),
                           ("one-b", 1)):
            queue.send(text.encode(), type=kind)
    elif command == "receive":
        for kind in (2, -2, 0, 0):
            text, got = queue.receive(type=kind)
            print(got, text.decode(), flush=True)
    elif command == "wait":
        try:
            queue.receive()
            print("received a message instead of an error")
            return 1
        except sysv_ipc.ExistentialError as error:
            print("ExistentialError:", error, flush=True)
    elif command == "remove":
        queue.remove()
    else:
        print("unknown command", command)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
