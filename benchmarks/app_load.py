"""Load on the web app: concurrent clients on loopback sending style and super-resolution requests.

    python benchmarks/app_load.py [--models DIR] [--clients 20] [--seconds 60] [--rounds 3]

Starts `translate-app` as a separate process, then runs rounds of N client threads (gradio_client) that
send requests for a bounded time. Prints per round: requests, errors (goal 0), p50/p95 latency, and the
server's resident memory (goal: bounded, no growth from round to round).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "datasets" / "samples"


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def client(url: str, deadline: float, latencies: list[float], errors: list[str], lock: threading.Lock) -> None:
    from gradio_client import Client, handle_file

    api = Client(url, verbose=False)
    info = api.view_api(return_format="dict", print_info=False)["named_endpoints"]
    jobs = [(name, SAMPLES / image) for name, image in (("/style", "photos_vangogh/photos/golden_gate.jpg"),
                                                         ("/super_resolve", "realworld_lq/0014.jpg")) if name in info]
    i = 0
    while time.time() < deadline:
        endpoint, image = jobs[i % len(jobs)]
        i += 1
        start = time.perf_counter()
        try:
            api.predict(handle_file(str(image)), api_name=endpoint)
            with lock:
                latencies.append(time.perf_counter() - start)
        except Exception as err:  # noqa: BLE001 - every failure counts as an error for the report
            with lock:
                errors.append(f"{endpoint}: {str(err).splitlines()[0][:100]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="model folder (default: the bundled models)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(Path(sys.executable).parent / "translate-app"), "--port", str(port), "--device", "cpu"]
    if args.models:
        cmd += ["--models", args.models]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        print(f"server pid {server.pid}, {args.clients} clients, {args.seconds:.0f} s per round")
        for round_ in range(1, args.rounds + 1):
            latencies: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()
            deadline = time.time() + args.seconds
            threads = [threading.Thread(target=client, args=(url, deadline, latencies, errors, lock))
                       for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rss, peak = rss_mib(server.pid)
            q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
            p50 = statistics.median(latencies) if latencies else float("nan")
            print(f"round {round_}: {len(latencies)} ok, {len(errors)} errors, p50 {p50:.2f} s, p95 {q[18]:.2f} s, "
                  f"server RSS {rss:.0f} MiB (peak {peak:.0f} MiB)")
            for e in sorted(set(errors))[:5]:
                print(f"  error: {e}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
