"""mixload: the mixed DIMSE + HTTP load of bench/concurrency and bench/soak.

One fresh Tresor (default config: durable, encrypted, audited) on kernel-picked ports, a
DCMTK storescp (--fork --ignore: receives and drops) as the C-MOVE destination, a few
batches preloaded over C-STORE so that readers have something to read, then for
--duration seconds:
  * DIMSE workers, each running DCMTK clients back to back, one association per
    operation: store (storescu of a new batch of 20 instances of 64x64, 2 studies, from
    benchkit.Stream), find (findscu, STUDY level, PatientID of a stored study), move
    (movescu of a stored study to storescp), get (getscu of a stored study into a temp
    folder, checked for its 10 instances);
  * HTTP clients, each a thread with one keep-alive HTTPS connection and a bearer token:
    QIDO (GET /studies?PatientID=...), WADO (WADO-RS of one stored instance, checked for
    the instance's bytes), STOW (POST /studies of 2 new instances, as a technologist).
Every operation checks its answer; anything else is an error of its class (the first
messages are kept). A sampler records each second the server's RSS, open fds, threads
and CPU time, the busy share of each core, and the operations completed.
Latencies are measured by the client around each operation: for DIMSE they include the
DCMTK tool's start and association set-up; for HTTP, Python's own overhead with 64
threads on the same 2 cores.
"""
import os
import random
import shutil
import subprocess
import threading
import time
import urllib.parse

import benchkit as bk

UNITS = {"store": "instances", "stow": "instances", "get": "instances", "move": "studies",
         "find": "queries", "qido": "queries", "wado": "instances"}


class Load:
    def __init__(self, work, binary, dimse_ops, http_ops, duration, warmup_batches=8):
        self.work = work
        self.duration = duration
        self.dimse_ops = dimse_ops      # one op name per DIMSE worker
        self.http_ops = http_ops        # one op name per HTTP client
        cache = os.path.join(os.environ.get("TMPDIR", "/tmp"), "tresor-bench-corpora")
        self.stream = bk.Stream(cache, 2, 2, 5, 64, 64, seed=21)     # 20 instances, 2 studies
        self.stow_stream = bk.Stream(cache, 1, 1, 2, 64, 64, seed=22)  # 2 instances
        self.dest_port = bk.free_port()
        self.dest = work.spawn(["storescp", "--fork", "--ignore", "-aet", bk.DEST_AET,
                                str(self.dest_port)], os.path.join(work.dir, "storescp.log"))
        shutil.copy(binary, os.path.join(work.dir, "tresor"))
        self.t = bk.Tresor(work, os.path.join(work.dir, "tresor"))
        self.t.init(dest_port=self.dest_port, scu_peers=len(dimse_ops))
        self.t.start()
        self.stats = bk.Stats()
        self.lock = threading.Lock()
        self.next_batch = 0
        self.next_stow = 0
        self.stored = []               # batches fully stored (readable)
        self.stop = threading.Event()
        self.samples = []
        self.warmup_batches = warmup_batches

    # ---- helpers ----------------------------------------------------------------------
    def take_batch(self):
        with self.lock:
            b = self.next_batch
            self.next_batch += 1
            return b

    def pick(self):
        """(batch, study index 0/1) of a stored study."""
        with self.lock:
            b = random.choice(self.stored)
        return b, random.randrange(2) * 10

    def scu(self, args):
        r = subprocess.run(args, capture_output=True, text=True, timeout=300)
        return r.returncode, r.stdout + r.stderr

    # ---- DIMSE operations ----------------------------------------------------------------
    def op_store(self, aet=bk.SCU_AET):
        b = self.take_batch()
        d = os.path.join(self.work.dir, "out", f"b{b}")
        self.stream.write_batch(b, d)
        t0 = time.monotonic()
        rc, out = self.scu(["storescu", "-v", "-aet", aet, "-aec", "TRESOR", "+sd", "127.0.0.1",
                            str(self.t.dicom_port), d])
        dt = time.monotonic() - t0
        shutil.rmtree(d, ignore_errors=True)
        ok = out.count("Received Store Response (Success)")
        if rc != 0 or ok != self.stream.size:
            self.stats.error("store", f"batch {b}: exit {rc}, {ok}/{self.stream.size} stored: {out[-200:]}")
            return
        self.stats.ok("store", dt, ok)
        with self.lock:
            self.stored.append(b)

    def op_find(self, aet=bk.SCU_AET):
        b, n = self.pick()
        pid, study, _, _ = self.stream.study(b, n)
        t0 = time.monotonic()
        rc, out = self.scu(["findscu", "-v", "-S", "-aet", aet, "-aec", "TRESOR",
                            "-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={pid}",
                            "-k", "StudyInstanceUID", "127.0.0.1", str(self.t.dicom_port)])
        dt = time.monotonic() - t0
        if rc != 0 or "Final Find Response (Success)" not in out or study not in out:
            self.stats.error("find", f"exit {rc}: {out[-200:]}")
            return
        self.stats.ok("find", dt)

    def op_move(self, aet=bk.SCU_AET):
        b, n = self.pick()
        _, study, _, _ = self.stream.study(b, n)
        t0 = time.monotonic()
        rc, out = self.scu(["movescu", "-v", "-S", "-aet", aet, "-aec", "TRESOR", "-aem", bk.DEST_AET,
                            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                            "127.0.0.1", str(self.t.dicom_port)])
        dt = time.monotonic() - t0
        if rc != 0 or "Final Move Response (Success)" not in out:
            self.stats.error("move", f"exit {rc}: {out[-300:]}")
            return
        self.stats.ok("move", dt)

    def op_get(self, aet=bk.SCU_AET):
        b, n = self.pick()
        _, study, _, _ = self.stream.study(b, n)
        d = os.path.join(self.work.dir, "out", f"get-{threading.get_ident()}-{time.monotonic_ns()}")
        os.makedirs(d)
        t0 = time.monotonic()
        rc, out = self.scu(["getscu", "-S", "-aet", aet, "-aec", "TRESOR", "-od", d,
                            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                            "127.0.0.1", str(self.t.dicom_port)])
        dt = time.monotonic() - t0
        got = len(os.listdir(d))
        shutil.rmtree(d, ignore_errors=True)
        if rc != 0 or got != 10:
            self.stats.error("get", f"exit {rc}, {got}/10 files: {out[-200:]}")
            return
        self.stats.ok("get", dt, got)

    # ---- HTTP operations -------------------------------------------------------------------
    def op_qido(self, https):
        b, n = self.pick()
        pid, study, _, _ = self.stream.study(b, n)
        st, body, dt = https.request("GET", f"/dicom-web/studies?PatientID={urllib.parse.quote(pid)}",
                                     {"Accept": "application/dicom+json"})
        if st != 200 or study.encode() not in body:
            self.stats.error("qido", f"HTTP {st}: {body[:150]!r}")
            return
        self.stats.ok("qido", dt)

    def op_wado(self, https):
        b, n = self.pick()
        n += random.randrange(10)
        _, study, series, sop = self.stream.study(b, n)
        st, body, dt = https.request("GET", f"/dicom-web/studies/{study}/series/{series}/instances/{sop}",
                                     {"Accept": 'multipart/related; type="application/dicom"'})
        if st != 200 or sop.encode() not in body or len(body) < len(self.stream.files[n][2]):
            self.stats.error("wado", f"HTTP {st}: {body[:150]!r}")
            return
        self.stats.ok("wado", dt)

    def op_stow(self, https):
        with self.lock:
            b = self.next_stow
            self.next_stow += 1
        parts = [self.stow_stream.instance_bytes(b, i) for i in range(self.stow_stream.size)]
        ctype, body = bk.stow_body(parts)
        st, answer, dt = https.request("POST", "/dicom-web/studies", {"Content-Type": ctype,
                                       "Accept": "application/dicom+json"}, body)
        if st != 200:
            self.stats.error("stow", f"HTTP {st}: {answer[:200]!r}")
            return
        self.stats.ok("stow", dt, len(parts))

    # ---- running ------------------------------------------------------------------------------
    def dimse_worker(self, op, aet):
        fn = getattr(self, f"op_{op}")
        while not self.stop.is_set():
            try:
                fn(aet)
            except Exception as e:  # a client that could not run is an error of its class
                self.stats.error(op, f"{type(e).__name__}: {e}")
                time.sleep(0.1)

    def http_worker(self, op, token, source):
        https = bk.Https(self.t.https_port, self.t.ssl_context(), token, source)
        fn = getattr(self, f"op_{op}")
        while not self.stop.is_set():
            try:
                fn(https)
            except Exception as e:
                self.stats.error(op, f"{type(e).__name__}: {e}")
                https.conn = None
                time.sleep(0.1)

    def run(self):
        bk.log(f"preloading {self.warmup_batches} batches of {self.stream.size} instances")
        for _ in range(self.warmup_batches):
            self.op_store()
        if not self.stored:
            raise RuntimeError(f"preload failed: {self.stats.error_samples}")
        self.stats = bk.Stats()   # the preload is not measured
        read_token = self.t.token(bk.READER)
        write_token = self.t.token(bk.WRITER)
        # Each DIMSE worker is its own peer (AE), each group of 8 HTTP clients its own
        # loopback address: the default per-peer and per-address limits stay in force.
        threads = [threading.Thread(target=self.dimse_worker, args=(op, bk.scu_aet(i + 1)), daemon=True)
                   for i, op in enumerate(self.dimse_ops)]
        threads += [threading.Thread(target=self.http_worker,
                                     args=(op, write_token if op == "stow" else read_token,
                                           bk.client_address(i)), daemon=True)
                    for i, op in enumerate(self.http_ops)]
        t0 = time.monotonic()
        cpu0 = bk.cpu_times()
        srv0 = self.t.sample()[3]
        for th in threads:
            th.start()
        last_cpu, last_print = cpu0, t0
        while time.monotonic() - t0 < self.duration:
            time.sleep(1)
            now = time.monotonic()
            cpu = bk.cpu_times()
            rss, fds, nthreads, srv_cpu = self.t.sample()
            with self.stats.lock:
                done = {}
                for _, cls, _u in self.stats.events:
                    done[cls] = done.get(cls, 0) + 1
                errors = sum(self.stats.errors.values())
            self.samples.append({"t": now - t0, "rss": rss, "fds": fds, "threads": nthreads,
                                 "cpu": srv_cpu - srv0, "cores": bk.core_busy(last_cpu, cpu),
                                 "done": done, "errors": errors})
            last_cpu = cpu
            if now - last_print >= 30:
                bk.log(f"  {now - t0:5.0f} s: RSS {rss:.0f} MiB, {fds} fds, {nthreads} threads, "
                       f"{sum(done.values())} operations, {errors} errors")
                last_print = now
            if self.t.proc.poll() is not None:
                self.stats.error("server", "tresor exited during the run")
                break
        self.stop.set()
        elapsed = time.monotonic() - t0
        self.cores = bk.core_busy(cpu0, bk.cpu_times())
        self.server_cpu = self.t.sample()[3] - srv0 if self.t.proc.poll() is None else None
        for th in threads:
            th.join(timeout=120)
        self.elapsed = elapsed
        self.server_alive = self.t.proc.poll() is None
        self.t.stop()
        with open(self.t.log_path, errors="replace") as f:
            self.server_errors = [line.strip() for line in f if " ERROR " in line][:10]
        self.instances = self.t.instances()
        units = self.stats.units
        self.expected = (self.warmup_batches * self.stream.size + units.get("store", 0) + units.get("stow", 0))
        self.dest.poll()

    def total_errors(self):
        return sum(self.stats.errors.values()) + (0 if self.server_alive else 1)


def plot(path, samples, title, classes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ts = [s["t"] for s in samples]
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    axes[0].plot(ts, [s["rss"] for s in samples], color="tab:red")
    axes[0].set_ylabel("RSS MiB")
    axes[1].plot(ts, [s["fds"] for s in samples], color="tab:green")
    axes[1].set_ylabel("open fds")
    axes[2].plot(ts, [s["threads"] for s in samples], color="tab:purple")
    axes[2].set_ylabel("threads")
    w = 10
    for cls in classes:
        rate = []
        for i, s in enumerate(samples):
            j = max(0, i - w)
            if i == j:
                rate.append(0)
                continue
            rate.append((s["done"].get(cls, 0) - samples[j]["done"].get(cls, 0)) / (s["t"] - samples[j]["t"]))
        axes[3].plot(ts, rate, label=cls)
    axes[3].set_ylabel("operations/s (10 s)")
    axes[3].set_xlabel("seconds")
    axes[3].legend(loc="upper right", ncol=len(classes))
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary(load, title, png=None):
    s = load.samples
    lines = [f"### {title}", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {bk.machine()}. Shared, noisy machine: "
             "read the figures as indications; clients and server share the cores.", "",
             f"{len(load.dimse_ops)} DIMSE workers ({', '.join(f'{load.dimse_ops.count(o)} {o}' for o in sorted(set(load.dimse_ops)))}), "
             f"{len(load.http_ops)} HTTP clients ({', '.join(f'{load.http_ops.count(o)} {o}' for o in sorted(set(load.http_ops)))}), "
             f"{load.elapsed:.0f} s. Latency: client-side per operation (DIMSE: one DCMTK process and association "
             "per operation, start-up included).", "",
             load.stats.table(load.elapsed, UNITS), ""]
    total = load.total_errors()
    cores = ", ".join(f"{c:.0f}%" for c in load.cores)
    srv = "-" if load.server_cpu is None else f"{100 * load.server_cpu / load.elapsed:.0f}% of one core"
    lines += ["| measure | value |", "|---|---|",
              f"| errors (all classes) | {total} |",
              f"| server alive at the end / ERROR lines in its log | {'yes' if load.server_alive else '**no**'} / {len(load.server_errors)} |",
              f"| instances in the index / expected (preload + stored + STOWed) | {load.instances} / {load.expected} |",
              f"| machine cores busy (whole run) | {cores} |",
              f"| server CPU | {srv} |"]
    if s:
        k = max(1, len(s) // 10)
        first, last = s[:k], s[-k:]

        def med(xs, key):
            v = sorted(x[key] for x in xs)
            return v[len(v) // 2]
        lines += [f"| RSS first / last 10% (median) / max | {med(first, 'rss'):.0f} / {med(last, 'rss'):.0f} / {max(x['rss'] for x in s):.0f} MiB |",
                  f"| open fds first / last 10% / max | {med(first, 'fds')} / {med(last, 'fds')} / {max(x['fds'] for x in s)} |",
                  f"| threads first / last 10% / max | {med(first, 'threads')} / {med(last, 'threads')} / {max(x['threads'] for x in s)} |"]
    lines.append("")
    if png:
        lines += [f"![RSS, fds, threads and throughput over time]({png})", ""]
    errs = {c: v for c, v in load.stats.error_samples.items() if v}
    if errs or load.server_errors:
        lines += ["First errors:", "", "```"]
        for c, v in errs.items():
            lines += [f"{c}: {m}" for m in v]
        lines += load.server_errors
        lines += ["```", ""]
    return "\n".join(lines)


def write_samples(path, samples):
    with open(path, "w") as f:
        f.write("seconds\trss_mib\tfds\tthreads\tserver_cpu_s\tcores_busy_pct\toperations\terrors\n")
        for s in samples:
            f.write(f"{s['t']:.1f}\t{s['rss']:.1f}\t{s['fds']}\t{s['threads']}\t{s['cpu']:.2f}\t"
                    f"{','.join(f'{c:.0f}' for c in s['cores'])}\t{sum(s['done'].values())}\t{s['errors']}\n")
