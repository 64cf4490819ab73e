#!/usr/bin/env python3
"""icalgate side by side with direct Dovecot and haproxy: the same client workload, on loopback.

    python3 tests/bench/bench_relay.py --icalgate build/release/bin/icalgate

Three targets in one run, all in front of the same Dovecot 2.3 (TLS on 127.0.0.1):
  direct    the client talks TLS to Dovecot itself (the baseline)
  haproxy   haproxy 'mode tcp' as a TLS→TLS relay (Debian haproxy, one thread)
  icalgate  the gateway (implicit-TLS listener, implicit-TLS upstream)

Workloads (issue 3's defaults; targets interleaved round by round, so that load from other
users of the machine spreads over all three):
  bulk      UID FETCH 1:* (BODY.PEEK[]) of 2,000 messages of 5–50 KiB: MB/s and messages/s at
            the client (best and median of R), and the relay's CPU seconds per GB relayed (the
            fair figure when the client is the bottleneck; over all runs and the median run);
            Dovecot's own CPU per GB and the client's CPU share for reference; and a
            "CPU-bound" rate, bytes / CPU time of the busiest process (Dovecot, relay or
            client) per run, which is what the pipeline would move with a core per process
            and which other load on a shared machine hardly disturbs; and the ceiling that
            this machine's cores put on the rate, cores / CPU seconds per byte of all the
            processes together (client, Dovecot's imap and imap-login, the relay): on a machine
            with fewer cores than processes, a relay's own CPU lowers this ceiling
  headers   a Thunderbird-like header sync of 5,000 small messages: wall time (best of R) and
            relay CPU
  noop      sequential NOOP round trips after login: median and p99
  idle      2,000 logged-in sessions in IDLE: the relay's RSS growth / N (for direct Dovecot,
            the imap processes' RSS / N). Dovecot serves 100 clients per imap process here
            (service imap { client_limit = 100 }) so that 2,000 sessions stay affordable, and
            the open-files limit is raised for every process.
  connect   new TLS sessions per second: connect + TLS handshake (full, no resumption) + LOGIN
            + LOGOUT, from several client threads in parallel, in rounds that take the targets
            in turn (median of the rounds), and the relay's CPU time per new session
bulk, headers and idle also run through icalgate with COMPRESS=DEFLATE (RFC 4978, which
Thunderbird asks for wherever it is offered; Exchange Online does not offer it), after the
rest and on a restarted gateway: the bytes on the wire, the rate and the relay's CPU, and the
RSS per idle session.

Prints a table with the ratios icalgate/direct and icalgate/haproxy, and writes the same as
JSON (build/bench/relay.json). Asserts nothing about speed; exits non-zero only if the
benchmark itself could not run (or a process was left behind). Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by a benchmark run
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import env  # noqa: E402  (tests/integration/env.py: certificates, Dovecot with TLS, the gateway)
import relay_procs as procs  # noqa: E402
from relay_client import FastImap, multiappend, tls_context  # noqa: E402

USER = "bench@example.com"
PASSWORD = "bench-Pa55 word"
TARGETS = ("direct", "haproxy", "icalgate")
# icalgate with the client side compressed (COMPRESS=DEFLATE, as Thunderbird asks for it): its
# figures go beside icalgate's, under the workload's name with this suffix.
DEFLATE = "icalgate+deflate"
HEADER_ITEMS = b"(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID Content-Type)])"


def log(msg: str) -> None:
    print(f"[bench_relay {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- messages


def bulk_messages(count: int, min_size: int, max_size: int):
    """count messages of min_size..max_size bytes (uniform, seeded): headers and a base64 body
    (76-column lines)."""
    rnd = random.Random(1)
    sizes = [rnd.randint(min_size, max_size) for _ in range(count)]
    # One pool of random lines, rotated per message: every message differs, generation is quick.
    pool = [
        bytes(rnd.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(76))
        for _ in range(997)
    ]
    for i in range(count):
        head = (
            b"From: Sender %d <sender%d@example.org>\r\nTo: bench@example.com\r\n"
            b"Subject: bulk message %d\r\nDate: Fri, 27 Nov 2026 10:%02d:00 +0000\r\n"
            b"Message-ID: <bulk-%d@example.org>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ) % (i, i, i, i % 60, i)
        line_count = max(1, (sizes[i] - len(head)) // 78)
        body = b"\r\n".join(pool[(i * 7 + k) % len(pool)] for k in range(line_count))
        yield head + body + b"\r\n"


def small_messages(count: int):
    """Thunderbird-inbox-like small messages (≈1.5–4 KB) with the usual header set."""
    rnd = random.Random(2)
    words = b"meeting budget review quarterly agenda update notes invoice project draft team lunch".split()
    for i in range(count):
        subject = b" ".join(rnd.choice(words) for _ in range(rnd.randint(2, 8)))
        cc = b"Cc: carol@example.net, dave@example.net\r\n" if i % 3 == 0 else b""
        received = b"".join(
            b"Received: from mx%d.example.org (mx%d.example.org [192.0.2.%d])\r\n\tby mail.example.com with ESMTPS id %08x\r\n\tfor <bench@example.com>; Fri, 27 Nov 2026 09:%02d:%02d +0000\r\n"
            % (k, k, k + 1, rnd.getrandbits(32), i % 60, k)
            for k in range(rnd.randint(1, 4))
        )
        body = b"\r\n".join(b" ".join(rnd.choice(words) for _ in range(12)) for _ in range(rnd.randint(5, 30)))
        yield (
            received + b"From: Person %d <person%d@example.org>\r\nTo: Bench <bench@example.com>\r\n" % (i % 97, i % 97)
            + cc
            + b"Subject: " + subject + b"\r\n"
            + b"Date: Fri, 27 Nov 2026 09:%02d:%02d +0000\r\n" % (i // 60 % 60, i % 60)
            + b"Message-ID: <msg-%d@example.org>\r\nMIME-Version: 1.0\r\n" % i
            + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
            + body
            + b"\r\n"
        )


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="icalgate-bench-"))
        os.chmod(self.root, 0o755)
        self.upstream: env.Upstream | None = None
        self.haproxy: procs.Haproxy | None = None
        self.gateway: env.Gateway | None = None
        self.ports: dict[str, int] = {}
        self.relay_pid: dict[str, int | None] = {}
        self.ctx = None
        self.results: dict[str, dict] = {t: {} for t in TARGETS}
        self.expected: dict[str, tuple[int, int]] = {}
        self.pgids: list[int] = []

    # -- world -------------------------------------------------------------------
    def start(self) -> None:
        a = self.args
        t0 = time.monotonic()
        certs = env.make_certs(self.root / "certs")
        self.ctx = tls_context(str(certs["ca"]))
        extra = (
            f"mail_max_userip_connections = {a.sessions * 2 + 100}\n"
            "mail_fsync = never\n"  # seeding speed; durability is not what is measured
            # 2,000 idle sessions: one imap process per 100 clients rather than one per client
            # (Dovecot 2.3 allows it; its docs advise client_limit = 1 for disk-bound production
            # load, which this is not). idle_kill: emptied processes go quickly between targets.
            # service_count = 0: a process keeps serving new clients (2.3's default is 1).
            "service imap {\n"
            "  service_count = 0\n"
            "  client_limit = 100\n"
            f"  process_limit = {a.sessions // 100 + 50}\n"
            "  vsz_limit = 1G\n"
            "  idle_kill = 1 secs\n"
            "}\n"
            f"default_client_limit = {a.sessions * 2 + 1000}\n"
            # Every TLS leg of every target uses the same cipher (icalgate's preference;
            # haproxy is given it too): the client's, Dovecot's and the relays' CPU per byte
            # then differ only by the work each does, not by AES-128 against AES-256.
            f"ssl_cipher_suites = {procs.TLS13_CIPHERSUITES}\n"
            "ssl_prefer_server_ciphers = yes\n"
        )
        if a.login_processes > 0:
            # TLS ends in imap-login, and each login process has its own session-ticket key: with
            # several, whether a relay's upstream connection resumes its TLS session depends on
            # which process accepts it, and so on the workloads run before (2,000 direct
            # sessions leave a second process behind). A full handshake keeps the upstream's
            # parsed certificate chain for the connection's life (≈8 KB), so the idle memory
            # figures depended on the order of the targets. One process (by default) gives
            # every relay the same, resumable upstream.
            extra += (
                "service imap-login {\n"
                f"  client_limit = {a.sessions * 2 + 1000}\n"
                f"  process_limit = {a.login_processes}\n"
                "}\n"
            )
        self.upstream = env.Upstream(certs, {USER: PASSWORD}, extra_config=extra)
        self.upstream.start()
        self.pgids.append(self.upstream.dovecot.proc.pid)
        log(f"dovecot up on {self.upstream.imaps_port} ({time.monotonic() - t0:.1f}s); seeding")
        self.seed()
        log(f"seeded ({time.monotonic() - t0:.1f}s)")
        self.haproxy = procs.Haproxy(
            self.root, certs, self.upstream.imaps_port, env.free_port(), maxconn=a.sessions * 2 + 1000
        )
        self.haproxy.start(env.port_accepts)
        self.pgids.append(self.haproxy.pid)
        # Assigned before start(): whatever start() leaves running, stop() finds.
        self.gateway = env.Gateway(
            a.icalgate,
            self.root,
            certs,
            self.upstream.imaps_port,
            "implicit",
            log_level=a.log_level,
            name="icalgate",
            limits={
                "max_connections": a.sessions * 4 + 100,
                "max_connections_per_ip": a.sessions * 4 + 100,
                "login_failure_delay": "0",
                "shutdown_grace": "2s",
            },
        )
        self.gateway.start()
        self.pgids.append(self.gateway.proc.pid)
        self.ports = {
            "direct": self.upstream.imaps_port,
            "haproxy": self.haproxy.port,
            "icalgate": self.gateway.imaps_port,
        }
        self.relay_pid = {"direct": None, "haproxy": self.haproxy.pid, "icalgate": self.gateway.proc.pid}
        negotiated = {}
        for target, port in self.ports.items():
            c = FastImap(port, self.ctx)
            negotiated[target] = f"{c.sock.version()} {c.sock.cipher()[0]}"
            c.close()
        log("client TLS: " + ", ".join(f"{t} {v}" for t, v in negotiated.items()))

    def seed(self) -> None:
        a = self.args
        c = FastImap(self.upstream.imaps_port, self.ctx)
        c.login(USER, PASSWORD)
        c.command(b"CREATE bulk")
        c.command(b"CREATE headers")
        sizes = [0, 0]
        msgs = []
        for m in bulk_messages(a.bulk_count, a.bulk_min_size, a.bulk_max_size):
            sizes[0] += 1
            sizes[1] += len(m)
            msgs.append(m)
            if len(msgs) >= 200:
                multiappend(c, "bulk", msgs)
                msgs = []
        multiappend(c, "bulk", msgs)
        self.expected["bulk"] = (sizes[0], sizes[1])
        n = multiappend(c, "headers", small_messages(a.headers_count), batch=500)
        self.expected["headers"] = (n, 0)
        c.logout()

    def stop(self) -> list[str]:
        errors = []
        for what, fn in (
            ("icalgate", lambda: self.gateway and self.gateway.stop(grace=10)),
            ("haproxy", lambda: self.haproxy and self.haproxy.stop()),
            ("dovecot", lambda: self.upstream and self.upstream.stop()),
        ):
            try:
                fn()
            except Exception as e:  # keep tearing down
                errors.append(f"stopping {what}: {e}")
        if self.gateway is not None:
            for problem in self.gateway.exit_problems():
                log(f"warning: {problem}")
        for pgid in self.pgids:
            procs.kill_group(pgid)
        time.sleep(0.2)
        left = procs.ps_leftovers(self.pgids)
        if left:
            errors.append("processes left behind:\n  " + "\n  ".join(left))
        else:
            log("stopped: no Dovecot, haproxy or icalgate process left (checked with ps)")
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            log(f"kept {self.root}")
        return errors

    # -- helpers -------------------------------------------------------------------
    def session(self, target: str, buffer_size: int = 4 << 20) -> FastImap:
        c = FastImap(self.ports[relay_of(target)], self.ctx, buffer_size=buffer_size)
        c.login(USER, PASSWORD)
        if target == DEFLATE:
            c.compress()
        return c

    def cpu_snapshot(self, target: str) -> tuple[float | None, dict[int, float]]:
        pid = self.relay_pid[relay_of(target)]
        return (procs.cpu_seconds(pid) if pid else None), procs.group_cpu(self.upstream.dovecot.proc.pid)

    def imap_processes(self) -> set[int]:
        return {p for p in procs.group_pids(self.upstream.dovecot.proc.pid) if procs.comm(p) == "imap"}

    def wait_imap_processes_at_most(self, n: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.imap_processes()) > n and time.monotonic() < deadline:
            time.sleep(0.1)

    # -- workloads -------------------------------------------------------------------
    def fetch_rounds(self, name: str, mailbox: bytes, command: bytes, reps: int, targets=TARGETS) -> None:
        """reps rounds × every target: one fresh session each, only the FETCH is timed."""
        count, size = self.expected[name]
        # Warm-up (untimed): Dovecot's index cache and the page cache are then equally warm.
        c = self.session("direct")
        c.command(b"EXAMINE " + mailbox)
        c.command(command)
        c.logout()
        runs = {t: [] for t in targets}
        for _ in range(reps):
            for t in runs:
                c = self.session(t)
                c.command(b"EXAMINE " + mailbox)
                relay0, up0 = self.cpu_snapshot(t)
                cli0 = time.process_time()
                received0 = c.received
                wire0 = c.wire_received
                t0 = time.perf_counter()
                _, literals, literal_bytes = c.command(command)
                wall = time.perf_counter() - t0
                cli = time.process_time() - cli0
                relay1, up1 = self.cpu_snapshot(t)
                received = c.received - received0
                wire = c.wire_received - wire0
                c.logout()
                if literals != count or (size and literal_bytes != size):
                    raise RuntimeError(
                        f"{name} via {t}: {literals} literals / {literal_bytes} bytes, expected {count} / {size}"
                    )
                runs[t].append(
                    {
                        "wall_s": wall,
                        "bytes": received,
                        "wire_bytes": wire,
                        "relay_cpu_s": None if relay0 is None else relay1 - relay0,
                        "dovecot_cpu_s": procs.cpu_delta(up0, up1),
                        "client_cpu_s": cli,
                    }
                )
        for t in runs:
            r = runs[t]
            total_bytes = sum(x["bytes"] for x in r)
            best = min(r, key=lambda x: x["wall_s"])
            out = {
                "runs": r,
                "best_wall_s": best["wall_s"],
                "median_wall_s": statistics.median(x["wall_s"] for x in r),
                "bytes_per_run": best["bytes"],
                "best_MB_per_s": best["bytes"] / best["wall_s"] / 1e6,
                "median_MB_per_s": statistics.median(x["bytes"] / x["wall_s"] / 1e6 for x in r),
                "messages_per_s": count / best["wall_s"],
                "dovecot_cpu_s_per_GB": sum(x["dovecot_cpu_s"] for x in r) / total_bytes * 1e9,
                "client_cpu_share": sum(x["client_cpu_s"] for x in r) / sum(x["wall_s"] for x in r),
                "relay_cpu_s_per_run": None,
                "relay_cpu_s_per_GB": None,
            }
            # The busiest process's CPU time bounds the transfer rate when each has a core of its
            # own: a rate that other load on a shared machine hardly disturbs.
            out["cpu_bound_MB_per_s"] = statistics.median(
                x["bytes"] / max(x["dovecot_cpu_s"], x["client_cpu_s"], x["relay_cpu_s"] or 0.0) / 1e6 for x in r
            )
            # Every process of the pipeline shares this machine's cores: with all of them busy,
            # the rate cannot exceed cores / (CPU seconds per byte of all processes together).
            all_cpu = sum(x["dovecot_cpu_s"] + x["client_cpu_s"] + (x["relay_cpu_s"] or 0.0) for x in r)
            out["all_cpu_s_per_GB"] = all_cpu / total_bytes * 1e9
            out["cores_ceiling_MB_per_s"] = (os.cpu_count() or 1) / out["all_cpu_s_per_GB"] * 1e3
            out["MB_per_s_runs"] = [x["bytes"] / x["wall_s"] / 1e6 for x in r]
            if r[0]["relay_cpu_s"] is not None:
                cpu = sum(x["relay_cpu_s"] for x in r)
                out["relay_cpu_s_per_run"] = cpu / len(r)
                # A short run's CPU time swings with where the scheduler happens to wake the
                # relay: the median of many runs is what repeats from one benchmark to the next.
                out["relay_cpu_s_per_run_median"] = statistics.median(x["relay_cpu_s"] for x in r)
                out["relay_cpu_s_per_GB"] = cpu / total_bytes * 1e9
                per_run = [x["relay_cpu_s"] / x["bytes"] * 1e9 for x in r]
                out["relay_cpu_s_per_GB_runs"] = per_run
                out["relay_cpu_s_per_GB_median"] = statistics.median(per_run)
            out["wire_bytes_per_run"] = statistics.median(x["wire_bytes"] for x in r)
            if t == DEFLATE:
                self.results["icalgate"][name + "_deflate"] = out
            else:
                self.results[t][name] = out
            cpu_gb = out["relay_cpu_s_per_GB"]
            spread = out.get("relay_cpu_s_per_GB_runs")
            log(
                f"{name} {t:8s}: best {best['wall_s'] * 1000:.0f} ms, {out['best_MB_per_s']:.0f} MB/s "
                f"(median {out['median_MB_per_s']:.0f}, runs {min(out['MB_per_s_runs']):.0f}–"
                f"{max(out['MB_per_s_runs']):.0f}), relay CPU {'-' if cpu_gb is None else f'{cpu_gb:.2f}'} s/GB"
                + ("" if not spread else f" (runs {min(spread):.2f}–{max(spread):.2f})")
            )

    def noop_latency(self) -> None:
        n = self.args.noops
        for t in TARGETS:
            c = self.session(t)
            for _ in range(20):  # warm-up
                c.command(b"NOOP")
            samples = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                c.command(b"NOOP")
                samples.append((time.perf_counter_ns() - t0) / 1000)
            c.logout()
            samples.sort()
            self.results[t]["noop"] = {
                "count": n,
                "median_us": statistics.median(samples),
                "p99_us": samples[min(n - 1, int(n * 0.99))],
                "mean_us": statistics.fmean(samples),
            }
            log(f"noop {t:8s}: median {self.results[t]['noop']['median_us']:.0f} µs")

    def connect_rate(self) -> None:
        """New TLS sessions per second: `workers` threads, each connect + full TLS handshake +
        LOGIN + LOGOUT in a loop, `connects` sessions in all per target, in `connect_rounds`
        rounds that take the targets in turn (load from other users of the machine then spreads
        over all of them). The rate is the median of the rounds'; the relay's CPU time per
        session, which other load hardly disturbs, is the steadier figure."""
        n, workers, rounds = self.args.connects, self.args.connect_workers, max(1, self.args.connect_rounds)
        per_round = max(1, n // rounds)
        for t in TARGETS:
            self.session(t).logout()  # warm-up
        data = {t: {"samples": [], "rates": [], "relay_cpu_s": 0.0, "count": 0} for t in TARGETS}
        for _ in range(rounds):
            for t in TARGETS:
                samples: list[float] = []
                errors: list[BaseException] = []
                lock = threading.Lock()
                remaining = [per_round]

                def worker(t: str = t) -> None:
                    while True:
                        with lock:
                            if remaining[0] == 0 or errors:
                                return
                            remaining[0] -= 1
                        t0 = time.perf_counter()
                        try:
                            c = FastImap(self.ports[t], self.ctx, buffer_size=65536)
                            c.login(USER, PASSWORD)
                            c.logout()
                        except BaseException as e:  # noqa: BLE001 — re-raised below
                            with lock:
                                errors.append(e)
                            return
                        with lock:
                            samples.append((time.perf_counter() - t0) * 1000)

                threads = [threading.Thread(target=worker) for _ in range(workers)]
                relay0, _ = self.cpu_snapshot(t)
                t_all = time.perf_counter()
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                total = time.perf_counter() - t_all
                relay1, _ = self.cpu_snapshot(t)
                if errors:
                    raise RuntimeError(f"connect via {t}: {errors[0]!r}")
                d = data[t]
                d["samples"] += samples
                d["rates"].append(per_round / total)
                d["count"] += per_round
                if relay0 is not None:
                    d["relay_cpu_s"] += relay1 - relay0
                self.wait_imap_processes_at_most(0)
        for t in TARGETS:
            d = data[t]
            samples = sorted(d["samples"])
            count = d["count"]
            self.results[t]["connect"] = {
                "count": count,
                "workers": workers,
                "rounds": rounds,
                "mean_ms": statistics.fmean(samples),
                "median_ms": statistics.median(samples),
                "p99_ms": samples[min(count - 1, int(count * 0.99))],
                "per_s": statistics.median(d["rates"]),
                "per_s_rounds": d["rates"],
                "relay_cpu_ms_per_session": None
                if self.relay_pid[t] is None
                else d["relay_cpu_s"] / count * 1000,
            }
            r = self.results[t]["connect"]
            cpu = r["relay_cpu_ms_per_session"]
            log(
                f"connect {t:8s}: {r['per_s']:.0f} sessions/s (rounds "
                f"{', '.join(f'{x:.0f}' for x in d['rates'])}), median {r['median_ms']:.2f} ms, "
                f"relay CPU {'-' if cpu is None else f'{cpu:.2f}'} ms/session"
            )

    def idle_memory(self) -> None:
        for t in TARGETS:
            self.results[t]["idle"] = self.idle_sessions(t, compress=False)

    def restart_gateway(self) -> None:
        self.gateway.stop(grace=10)
        self.gateway.start()
        self.pgids.append(self.gateway.proc.pid)
        self.relay_pid["icalgate"] = self.gateway.proc.pid

    def idle_sessions(self, t: str, compress: bool) -> dict:
        """`sessions` authenticated sessions in IDLE (after COMPRESS DEFLATE if `compress`):
        what each adds to the relay's and Dovecot's resident memory."""
        n = self.args.sessions
        self.session(t, buffer_size=16384).logout()  # warm-up: first-use allocations
        self.wait_imap_processes_at_most(0)
        pid = self.relay_pid[t]
        before_imap = self.imap_processes()
        login_pids = [p for p in procs.group_pids(self.upstream.dovecot.proc.pid) if procs.comm(p) == "imap-login"]
        login_before = sum(procs.rss_kb(p) for p in login_pids)
        rss_before = procs.rss_kb(pid) if pid else 0
        sessions = []
        try:
            for _ in range(n):
                c = self.session(t, buffer_size=16384)
                sessions.append(c)
                if compress:
                    c.compress()
                c.command(b"SELECT INBOX")
                c.idle()
            # Let every process settle (Dovecot's IDLE setup, frees; icalgate returns freed
            # heap pages to the kernel a second or two after a burst of logins).
            time.sleep(3.0)
            new_imap = self.imap_processes() - before_imap
            imap_kb = sum(procs.rss_kb(p) for p in new_imap)
            login_after = sum(procs.rss_kb(p) for p in login_pids)
            rss_after = procs.rss_kb(pid) if pid else 0
        finally:
            for c in sessions:
                c.close()
        out = {
            "sessions": n,
            "compress": compress,
            "dovecot_imap_processes": len(new_imap),
            "dovecot_imap_kb_per_session": imap_kb / n,
            "dovecot_imap_login_growth_kb_per_session": (login_after - login_before) / n,
            "relay_rss_before_kb": rss_before if pid else None,
            "relay_rss_after_kb": rss_after if pid else None,
            "relay_kb_per_session": (rss_after - rss_before) / n if pid else None,
        }
        log(
            f"idle {t:8s}{' (COMPRESS)' if compress else ''}: relay {out['relay_kb_per_session']} KB/session, "
            f"dovecot imap {out['dovecot_imap_kb_per_session']:.0f} KB/session"
        )
        return out

    def run(self) -> None:
        a = self.args
        want = set(a.only.split(","))
        # Memory first, on fresh relays: freed buffers of earlier workloads would hide growth.
        if "idle" in want:
            self.idle_memory()
        if "noop" in want:
            self.noop_latency()
        if "connect" in want:
            self.connect_rate()
        if "headers" in want:
            self.fetch_rounds("headers", b"headers", b"UID FETCH 1:* " + HEADER_ITEMS, a.header_reps)
        if "bulk" in want:
            self.fetch_rounds("bulk", b"bulk", b"UID FETCH 1:* BODY.PEEK[]", a.reps)
        # icalgate with COMPRESS=DEFLATE (Thunderbird asks for it wherever it is offered) last,
        # on a restarted gateway: freed memory hides growth, and compressed sessions leave the
        # heap unlike what the measurements above were taken on.
        if want & {"idle", "headers", "bulk"}:
            self.restart_gateway()
        if "idle" in want:
            self.results["icalgate"]["idle_compressed"] = self.idle_sessions("icalgate", compress=True)
        if "headers" in want:
            self.fetch_rounds("headers", b"headers", b"UID FETCH 1:* " + HEADER_ITEMS, a.header_reps, (DEFLATE,))
        if "bulk" in want:
            self.fetch_rounds("bulk", b"bulk", b"UID FETCH 1:* BODY.PEEK[]", a.reps, (DEFLATE,))


# --------------------------------------------------------------------------- report

ROWS = [
    # (label, workload, key, scale, format, better)
    ("bulk FETCH MB/s at client (best)", "bulk", "best_MB_per_s", 1, "{:.0f}", "higher"),
    ("bulk FETCH MB/s at client (median)", "bulk", "median_MB_per_s", 1, "{:.0f}", "higher"),
    ("bulk FETCH messages/s (best)", "bulk", "messages_per_s", 1, "{:.0f}", "higher"),
    ("bulk FETCH MB/s CPU-bound (median)", "bulk", "cpu_bound_MB_per_s", 1, "{:.0f}", "higher"),
    ("bulk relay CPU s/GB", "bulk", "relay_cpu_s_per_GB", 1, "{:.2f}", "lower"),
    ("bulk MB/s (median), with COMPRESS", "bulk_deflate", "median_MB_per_s", 1, "{:.0f}", ""),
    ("bulk relay CPU s/GB, with COMPRESS", "bulk_deflate", "relay_cpu_s_per_GB", 1, "{:.2f}", ""),
    ("bulk wire/plain bytes, with COMPRESS", "bulk_deflate", lambda r: r["wire_bytes_per_run"] / r["bytes_per_run"], 1,
     "{:.2f}", ""),
    ("bulk relay CPU s/GB (median run)", "bulk", "relay_cpu_s_per_GB_median", 1, "{:.2f}", "lower"),
    ("bulk Dovecot CPU s/GB", "bulk", "dovecot_cpu_s_per_GB", 1, "{:.2f}", "lower"),
    ("bulk client CPU share", "bulk", "client_cpu_share", 1, "{:.2f}", ""),
    ("bulk CPU s/GB, all processes", "bulk", "all_cpu_s_per_GB", 1, "{:.2f}", "lower"),
    ("bulk MB/s ceiling, all cores busy", "bulk", "cores_ceiling_MB_per_s", 1, "{:.0f}", "higher"),
    ("headers FETCH wall ms (best)", "headers", "best_wall_s", 1000, "{:.0f}", "lower"),
    ("headers messages/s", "headers", "messages_per_s", 1, "{:.0f}", "higher"),
    ("headers relay CPU ms/run (median)", "headers", "relay_cpu_s_per_run_median", 1000, "{:.1f}", "lower"),
    ("headers bytes on the wire per run", "headers", "wire_bytes_per_run", 1, "{:,.0f}", ""),
    ("headers wire bytes/run, with COMPRESS", "headers_deflate", "wire_bytes_per_run", 1, "{:,.0f}", ""),
    ("headers wall ms (best), with COMPRESS", "headers_deflate", "best_wall_s", 1000, "{:.0f}", "lower"),
    ("headers relay CPU ms/run, with COMPRESS", "headers_deflate", "relay_cpu_s_per_run_median", 1000, "{:.1f}", ""),
    ("NOOP median µs", "noop", "median_us", 1, "{:.0f}", "lower"),
    ("NOOP p99 µs", "noop", "p99_us", 1, "{:.0f}", "lower"),
    ("idle KB/session (relay RSS)", "idle", "relay_kb_per_session", 1, "{:.1f}", "lower"),
    ("idle KB/session (relay), with COMPRESS", "idle_compressed", "relay_kb_per_session", 1, "{:.1f}", "lower"),
    ("idle KB/session (Dovecot imap)", "idle", "dovecot_imap_kb_per_session", 1, "{:.0f}", ""),
    ("idle KB/session (Dovecot imap-login)", "idle", "dovecot_imap_login_growth_kb_per_session", 1, "{:.1f}", ""),
    ("connect+LOGIN+LOGOUT ms (median)", "connect", "median_ms", 1, "{:.2f}", "lower"),
    ("new TLS sessions/s (parallel, median)", "connect", "per_s", 1, "{:.0f}", "higher"),
    ("relay CPU ms per new session", "connect", "relay_cpu_ms_per_session", 1, "{:.2f}", "lower"),
]


def relay_of(target: str) -> str:
    return "icalgate" if target == DEFLATE else target


def value(results: dict, target: str, workload: str, key, scale: float):
    w = results[target].get(workload)
    if not w:
        return None
    v = key(w) if callable(key) else w.get(key)
    return None if v is None else v * scale


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def report(results: dict, args, elapsed: float, path: Path) -> None:
    def fmt(v, f):
        return "-" if v is None else f.format(v)

    header = f"{'metric':36s} {'direct':>9s} {'haproxy':>9s} {'icalgate':>9s}  {'ical/direct':>11s} {'ical/haproxy':>12s}"
    lines = [header, "-" * len(header)]
    table = []
    for label, wl, key, scale, f, better in ROWS:
        vals = {t: value(results, t, wl, key, scale) for t in TARGETS}
        r_direct = ratio(vals["icalgate"], vals["direct"])
        r_haproxy = ratio(vals["icalgate"], vals["haproxy"])
        lines.append(
            f"{label:36s} {fmt(vals['direct'], f):>9s} {fmt(vals['haproxy'], f):>9s} {fmt(vals['icalgate'], f):>9s}"
            f"  {fmt(r_direct, '{:.2f}'):>11s} {fmt(r_haproxy, '{:.2f}'):>12s}"
        )
        table.append(
            {
                "metric": label,
                "better": better,
                **{t: vals[t] for t in TARGETS},
                "icalgate_over_direct": r_direct,
                "icalgate_over_haproxy": r_haproxy,
            }
        )
    print()
    print(
        f"icalgate relay benchmark — bulk {args.bulk_count} × {args.bulk_min_size // 1024}–"
        f"{args.bulk_max_size // 1024} KiB, {args.headers_count} header-sync messages, {args.noops} NOOPs, "
        f"{args.sessions} idle sessions, {args.connects} connects by {args.connect_workers} threads "
        f"in {args.connect_rounds} rounds; {args.login_processes or 'default'} Dovecot login process(es); "
        f"best of {args.reps} (headers {args.header_reps}); {elapsed:.0f} s"
    )
    print("\n".join(lines))
    def r(workload: str, key: str, other: str):
        return ratio(value(results, "icalgate", workload, key, 1), value(results, other, workload, key, 1))

    summary = {
        "throughput icalgate/direct": r("bulk", "best_MB_per_s", "direct"),
        "throughput icalgate/haproxy": r("bulk", "best_MB_per_s", "haproxy"),
        "throughput (median) icalgate/direct": r("bulk", "median_MB_per_s", "direct"),
        "CPU-bound throughput icalgate/direct": r("bulk", "cpu_bound_MB_per_s", "direct"),
        f"throughput ceiling on {os.cpu_count()} cores icalgate/direct": r("bulk", "cores_ceiling_MB_per_s", "direct"),
        f"throughput ceiling on {os.cpu_count()} cores haproxy/direct": ratio(
            value(results, "haproxy", "bulk", "cores_ceiling_MB_per_s", 1),
            value(results, "direct", "bulk", "cores_ceiling_MB_per_s", 1)),
        "relay CPU per GB icalgate/haproxy": r("bulk", "relay_cpu_s_per_GB", "haproxy"),
        "relay CPU per GB (median run) icalgate/haproxy": r("bulk", "relay_cpu_s_per_GB_median", "haproxy"),
        "relay CPU per new session icalgate/haproxy": r("connect", "relay_cpu_ms_per_session", "haproxy"),
        "header sync time icalgate/direct": r("headers", "best_wall_s", "direct"),
        "header sync time icalgate/haproxy": r("headers", "best_wall_s", "haproxy"),
        "header sync relay CPU icalgate/haproxy": r("headers", "relay_cpu_s_per_run_median", "haproxy"),
        "NOOP median icalgate/haproxy": r("noop", "median_us", "haproxy"),
        "idle memory per session icalgate/haproxy": r("idle", "relay_kb_per_session", "haproxy"),
        "connection time icalgate/haproxy": r("connect", "median_ms", "haproxy"),
    }
    print()
    print("summary (icalgate relative; throughput higher is better, everything else lower is better):")
    for k, v in summary.items():
        print(f"  {k:48s} {fmt(v, '{:.2f}')}")
    # Issue 3's goals, each as (label, measured ratio, goal, whether higher is better).
    goals = [
        ("FETCH throughput icalgate/direct", r("bulk", "best_MB_per_s", "direct"), 0.92, True),
        ("relay CPU per GB icalgate/haproxy", r("bulk", "relay_cpu_s_per_GB", "haproxy"), 1.0, False),
        ("idle memory per session icalgate/haproxy", r("idle", "relay_kb_per_session", "haproxy"), 1.0, False),
        ("new TLS sessions/s icalgate/haproxy", r("connect", "per_s", "haproxy"), 1.0, True),
    ]
    print()
    print("issue 3 goals:")
    goal_doc = []
    for label, v, goal, higher in goals:
        met = None if v is None else (v >= goal if higher else v <= goal)
        verdict = "-" if met is None else ("met" if met else "NOT met")
        print(f"  {label:44s} {fmt(v, '{:.2f}'):>6s}  goal {'≥' if higher else '≤'} {goal:.2f}  {verdict}")
        goal_doc.append({"goal": label, "ratio": v, "target": goal, "higher_is_better": higher, "met": met})
    doc = {
        "benchmark": "tests/bench/bench_relay.py",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": {
            k: getattr(args, k)
            for k in (
                "bulk_count",
                "bulk_min_size",
                "bulk_max_size",
                "headers_count",
                "noops",
                "sessions",
                "connects",
                "connect_workers",
                "connect_rounds",
                "login_processes",
                "reps",
                "header_reps",
                "only",
                "icalgate",
            )
        },
        "elapsed_s": elapsed,
        "table": table,
        "summary": summary,
        "goals": goal_doc,
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwritten to {path}")


def parse_size(text: str) -> int:
    units = {"kib": 1024, "mib": 1 << 20, "kb": 1000, "mb": 1000 * 1000, "b": 1}
    t = text.strip().lower()
    for u, m in units.items():
        if t.endswith(u):
            return int(float(t[: -len(u)]) * m)
    return int(t)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--icalgate", default=str(REPO / "build" / "release" / "bin" / "icalgate"))
    p.add_argument("--bulk-count", type=int, default=2000)
    p.add_argument("--bulk-min-size", type=parse_size, default=parse_size("5KiB"))
    p.add_argument("--bulk-max-size", type=parse_size, default=parse_size("50KiB"))
    p.add_argument("--headers-count", type=int, default=5000)
    p.add_argument("--noops", type=int, default=200)
    p.add_argument("--sessions", type=int, default=2000, help="idle authenticated sessions per target")
    p.add_argument("--connects", type=int, default=500, help="new TLS sessions per target")
    p.add_argument("--connect-workers", type=int, default=4, help="client threads opening sessions")
    p.add_argument("--connect-rounds", type=int, default=5, help="rounds the connects are split into")
    p.add_argument(
        "--login-processes",
        type=int,
        default=1,
        help="Dovecot imap-login processes (TLS ends there; each has its own session-ticket key, "
        "so with more than one a relay's upstream resumption succeeds by chance); 0: env.py's default",
    )
    p.add_argument("--reps", type=int, default=7, help="bulk FETCH rounds (best and median of)")
    p.add_argument("--header-reps", type=int, default=25, help="header-sync rounds (best and median of; each is short)")
    p.add_argument("--only", default="idle,noop,connect,headers,bulk", help="comma-separated workloads")
    p.add_argument("--log-level", default="info", help="icalgate's [log] level")
    p.add_argument("--json", default=str(REPO / "build" / "bench" / "relay.json"))
    p.add_argument("--time-limit", type=float, default=300, help="seconds before the run is abandoned")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    args = p.parse_args()
    args.icalgate = str(Path(args.icalgate).resolve()) if os.path.exists(args.icalgate) else args.icalgate
    if not os.access(args.icalgate, os.X_OK):
        print(f"bench_relay: icalgate binary not found: {args.icalgate} (./run build)", file=sys.stderr)
        return 2
    if not (shutil.which("haproxy") or os.access("/usr/sbin/haproxy", os.X_OK)):
        print("bench_relay: haproxy is not installed (./run deps)", file=sys.stderr)
        return 2

    def abandon(signum, frame):
        raise TimeoutError(f"benchmark abandoned (signal {signum}: over --time-limit or terminated)")

    # 2,000 sessions: the client, Dovecot, haproxy and icalgate (children inherit it) each
    # need a few thousand descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.sessions * 3 + 1000
    if soft != resource.RLIM_INFINITY and soft < want:
        new_soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        if new_soft < want:
            log(f"warning: open-files limit {new_soft} < {want}; --sessions {args.sessions} may fail")
    signal.signal(signal.SIGALRM, abandon)
    signal.signal(signal.SIGTERM, abandon)
    signal.alarm(int(args.time_limit))
    t0 = time.monotonic()
    bench = Bench(args)
    failed = None
    try:
        bench.start()
        bench.run()
    except BaseException as e:  # noqa: BLE001 — reported after teardown
        failed = e
        gateway_log = bench.gateway.log_tail(2000) if bench.gateway is not None else ""
    finally:
        signal.alarm(0)
        errors = bench.stop()
    if failed is not None:
        print(f"bench_relay: failed: {type(failed).__name__}: {failed}", file=sys.stderr)
        if gateway_log:
            print(f"--- icalgate log tail ---\n{gateway_log}", file=sys.stderr)
    for e in errors:
        print(f"bench_relay: {e}", file=sys.stderr)
    if failed is not None or errors:
        return 1
    report(bench.results, args, time.monotonic() - t0, Path(args.json))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
