"""Runs `python ARGS…` tied to the process that started it: on Linux the kernel kills it when
that process dies, however it dies, SIGKILL included (PR_SET_PDEATHSIG outlives the exec).

    python deploy/local/die_with_parent.py PARENT_PID ARGS…

The tie is made in this short-lived Python before the exec rather than in a `preexec_fn`,
which is unsafe in a parent that runs threads (the tests do).
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    parent, args = int(sys.argv[1]), sys.argv[2:]
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        sys.exit("the parent process ended before its child started")
    os.execv(sys.executable, [sys.executable, *args])


if __name__ == "__main__":
    main()
