"""What every command-line tool shares: quiet TensorFlow output, ``--verbose``, and ``--help`` that
exits 0.

TensorFlow's native code logs to file descriptor 2 before its own log level is read (the
``I0000 ... oneDNN``, ``cudart_stub`` lines) and reports a missing GPU driver as an error
(``E0000 ... failed call to cuInit``), so neither ``TF_CPP_MIN_LOG_LEVEL`` nor Python's logging
can hide them.  :func:`quiet_native_logs` therefore points descriptor 2 at a small filter process
that drops such lines and passes everything else through, while Python's ``sys.stderr`` (progress
bars, our messages, tracebacks) keeps writing to the terminal directly.  The filter is a separate
process, not a thread, so a native crash's last words still reach the terminal.

Every command starts through :func:`command` (``python -m ddvo_tf.X`` and the installed
``ddvo-X`` console scripts alike), so the filter is in place before TensorFlow is imported: command
modules import the library inside ``main``, never at their top.  ``--verbose`` (or
``DDVO_VERBOSE=1``) turns it off.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
from typing import Callable

VERBOSE_ENV = "DDVO_VERBOSE"

# Native log lines ([IWEF]MMDD hh:mm:ss.uuuuuu thread file:line] message).  Info and warning lines
# are dropped; errors only when they are known to be harmless; fatal lines always pass.
_FILTER_SOURCE = r"""
import re, sys
native = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
harmless = re.compile(rb"cuInit|cuda|CUDA|NodeDef mentions attribute|TensorRT|Unable to register")
preamble = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    match = native.match(line)
    if line.rstrip() == preamble or (match and (match.group(1) in b"IW"
                                                or (match.group(1) == b"E" and harmless.search(line)))):
        continue
    out.write(line)
    out.flush()
"""


def verbose_requested(argv: list[str] | None = None) -> bool:
    argv = sys.argv if argv is None else argv
    if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
        return True
    return any(arg in ("--verbose", "--verbose=true", "--verbose=1") for arg in argv[1:])


def quiet_native_logs(argv: list[str] | None = None) -> None:
    """Filter TensorFlow's native log lines out of this process's (and its children's) fd 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if verbose_requested(argv) or getattr(quiet_native_logs, "active", False):
        return
    try:
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
        filter_process = subprocess.Popen([sys.executable, "-c", _FILTER_SOURCE], stdin=read_end,
                                          stdout=terminal, stderr=terminal, close_fds=True)
    except OSError:
        return                                  # no filter: the output is noisier, nothing breaks
    os.close(read_end)
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                      errors="backslashreplace", closefd=False)
    quiet_native_logs.active = True

    def _finish() -> None:
        # Close our end of the pipe so the filter drains and exits before the shell prompt returns.
        try:
            sys.stderr.flush()
            os.dup2(terminal, 2)
            filter_process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass

    atexit.register(_finish)


def quiet_python_logs() -> None:
    """TensorFlow's and absl's Python INFO/WARNING chatter (saver notes, retracing notes) off,
    unless ``--verbose``.  Call after TensorFlow is imported."""
    if verbose_requested():
        return
    import logging

    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def define_verbose_flag() -> None:
    from absl import flags
    if "verbose" not in flags.FLAGS:
        flags.DEFINE_bool("verbose", False, f"Show TensorFlow's own log lines (also: {VERBOSE_ENV}=1).")


def run(main: Callable[[list[str]], int | None]) -> None:
    """``absl.app.run(main)`` with ``--verbose`` defined, TensorFlow's Python log chatter off unless
    it is given, and ``--help`` / ``-h`` / ``--helpfull`` exiting with status 0 (absl's exit 1)."""
    from absl import app
    define_verbose_flag()
    asked_for_help = any(arg in ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")
                         for arg in sys.argv[1:])

    def quiet_main(argv: list[str]) -> int | None:
        quiet_python_logs()
        return main(argv)

    try:
        app.run(quiet_main)
    except SystemExit as done:
        if asked_for_help and done.code == 1:
            raise SystemExit(0) from None
        raise


def command(define_flags: Callable[[], None] | None, main: Callable[[list[str]], int | None]) -> None:
    """A command's entry point: TensorFlow's native log lines filtered (before it loads), the
    command's flags defined, ``main`` run by :func:`run`."""
    quiet_native_logs()
    if define_flags is not None:
        define_flags()
    if main.__module__ != "__main__":
        # An installed console script: absl's --help lists the key flags of the script (sys.argv[0]),
        # which defines none; the command module's flags are its.
        from absl import flags
        for flag in flags.FLAGS.get_flags_for_module(main.__module__):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    run(main)
