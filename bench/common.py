"""Helpers shared by the benchmark scripts: timing, peak memory, machine facts, table and JSON."""
from __future__ import annotations

import json
import os
import platform
import resource
import time
from typing import Callable, Sequence


def machine_info() -> dict:
    """What the numbers were measured on."""
    import tensorflow as tf

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "gpus": len(tf.config.list_physical_devices("GPU")),
            "date": time.strftime("%Y-%m-%d")}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, float]:
    """``(first_call_seconds, median_seconds_of_the_rest)``; the first call includes tracing."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return first, times[len(times) // 2]


def print_table(rows: Sequence[dict], columns: Sequence[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def write_json(path: str, payload: dict) -> None:
    """Atomic write (temporary name, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(tmp, path)
    print(f"wrote {path}")


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate (GFLOP/s): the median of ``size``-square products
    in a tf.function, the yardstick of the train step's convolution rate."""
    import tensorflow as tf

    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    product = tf.function(tf.autograph.experimental.do_not_convert(lambda: tf.reduce_sum(tf.matmul(a, b))))
    _, seconds = time_call(lambda: product().numpy(), repeats)
    return 2.0 * size ** 3 / seconds / 1e9
