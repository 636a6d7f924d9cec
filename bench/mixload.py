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
            anon, rss_file = memory_split(self.t.proc.pid)
            with self.stats.lock:
                # Counts, not a walk over the events: the walk grows with the run and,
                # under the GIL, would slow the clients more and more.
                done = {cls: len(v) for cls, v in self.stats.lat.items()}
                failed = dict(self.stats.errors)
            self.samples.append({"t": now - t0, "rss": rss, "anon": anon, "file": rss_file,
                                 "fds": fds, "threads": nthreads,
                                 "cpu": srv_cpu - srv0, "cores": bk.core_busy(last_cpu, cpu),
                                 "done": done, "failed": failed, "errors": sum(failed.values())})
            last_cpu = cpu
            if now - last_print >= 30:
                bk.log(f"  {now - t0:5.0f} s: RSS {rss:.0f} MiB, {fds} fds, {nthreads} threads, "
                       f"{sum(done.values())} operations, {sum(failed.values())} errors")
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


def plot(path, samples, title, classes, warmup=None):
    """RSS (and its anonymous part), fds, threads and per-class throughput over time; with
    `warmup`, the end of the warm-up is marked and the flatness fit drawn over the window."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ts = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    axes[0].plot(ts, [s["rss"] for s in samples], color="tab:red", lw=0.8, label="RSS")
    if samples and "anon" in samples[0]:
        axes[0].plot(ts, [s["anon"] for s in samples], color="tab:orange", lw=0.8, label="anonymous")
    axes[0].set_ylabel("resident MiB")
    axes[1].plot(ts, [s["fds"] for s in samples], color="tab:green", lw=0.8)
    axes[1].set_ylabel("open fds")
    axes[2].plot(ts, [s["threads"] for s in samples], color="tab:purple", lw=0.8)
    axes[2].set_ylabel("threads")
    if warmup is not None and samples:
        fit = flatness(samples, warmup)
        for ax, key in zip(axes[:3], ("rss", "fds", "threads")):
            ax.axvline(warmup / 60, color="gray", ls="--", lw=1)
            if key in fit:
                k, line = fit[key][0], fit[key][5]
                ax.plot([line[0][0], line[1][0]], [line[0][1], line[1][1]], color="black", lw=1.5,
                        label=f"fit of the {FLAT_STAT[key]} after the warm-up: {k:+.3f} {FLAT_UNITS[key]}/min")
                ax.legend(loc="lower right", fontsize=8)
    w = 10
    for cls in classes:
        rate = []
        for i, s in enumerate(samples):
            j = max(0, i - w)
            if i == j:
                rate.append(0)
                continue
            rate.append((s["done"].get(cls, 0) - samples[j]["done"].get(cls, 0)) / (s["t"] - samples[j]["t"]))
        axes[3].plot(ts, rate, label=cls, lw=0.8)
    axes[3].set_ylabel("operations/s (10 s)")
    axes[3].set_xlabel("minutes")
    axes[3].legend(loc="upper right", ncol=len(classes), fontsize=8)
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    try:  # a palette of 64 colours: a third of the bytes, the same picture
        from PIL import Image
        Image.open(path).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    except ImportError:
        pass


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


def write_samples(path, samples, classes=()):
    """One row per sample; with `classes`, the cumulative operations and errors of each."""
    with open(path, "w") as f:
        f.write("seconds\trss_mib\tanon_mib\tfile_mib\tfds\tthreads\tserver_cpu_s\tcores_busy_pct\toperations\terrors"
                + "".join(f"\t{c}_ops\t{c}_errors" for c in classes) + "\n")
        for s in samples:
            f.write(f"{s['t']:.1f}\t{s['rss']:.1f}\t{s.get('anon', 0):.1f}\t{s.get('file', 0):.1f}\t{s['fds']}\t"
                    f"{s['threads']}\t{s['cpu']:.2f}\t{','.join(f'{c:.0f}' for c in s['cores'])}\t"
                    f"{sum(s['done'].values())}\t{s['errors']}"
                    + "".join(f"\t{s['done'].get(c, 0)}\t{s.get('failed', {}).get(c, 0)}" for c in classes) + "\n")


def memory_split(pid):
    """(anonymous, file-backed) resident MiB of pid (/proc/PID/status RssAnon, RssFile)."""
    anon = rss_file = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1]) / 1024
                elif line.startswith("RssFile:"):
                    rss_file = int(line.split()[1]) / 1024
    except OSError:
        pass
    return anon, rss_file


# ---- flatness ------------------------------------------------------------------------------
# After the warm-up the samples are grouped into buckets (minutes; 10 s for a window
# shorter than 10 minutes) and a least-squares line is fitted through one value per bucket:
# the median RSS, and the minimum of open fds and threads. Minima, because requests in
# flight come and go (a STOW-RS part commits on a thread of its own, every connection
# holds a socket) and move the median with the throughput, while anything leaked raises
# the floor. A curve is flat when its slope stays within these limits per minute. The
# leaks the soak is there to catch are far steeper: one fd or thread kept per C-MOVE or
# STOW-RS request would be hundreds per minute, 10 KiB kept per operation ~100 MiB.
FLAT_LIMITS = {"rss": 0.1, "fds": 0.2, "threads": 0.2}
FLAT_UNITS = {"rss": "MiB", "fds": "fds", "threads": "threads"}
FLAT_STAT = {"rss": "median", "fds": "minimum", "threads": "minimum"}


def warmup_seconds(duration):
    """The warm-up excluded from the flatness verdict: the first third of the run (10 of
    30 minutes), so the window is the last two thirds (the last 20 minutes)."""
    return duration / 3


def slope(points):
    """Least-squares slope of [(x, y)], or 0.0 for fewer than 2 distinct x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def buckets(samples, warmup):
    """[(bucket middle in minutes, {curve: value})] over the window after `warmup`."""
    window = [s for s in samples if s["t"] >= warmup]
    if not window:
        return []
    width = 60 if window[-1]["t"] - warmup >= 600 else 10
    groups = {}
    for s in window:
        groups.setdefault(int((s["t"] - warmup) // width), []).append(s)
    out = []
    for k in sorted(groups):
        g = groups[k]
        if g[-1]["t"] - g[0]["t"] < width / 2:  # a bucket cut short by the end of the run
            continue
        rss = sorted(s["rss"] for s in g)
        out.append(((warmup + (k + 0.5) * width) / 60,
                    {"rss": rss[len(rss) // 2], "fds": min(s["fds"] for s in g),
                     "threads": min(s["threads"] for s in g)}))
    return out


def flatness(samples, warmup):
    """{curve: (slope per minute, first bucket's value, last bucket's value, limit, flat,
    fitted line as ((x0, y0), (x1, y1)) in minutes)} over the buckets after `warmup`;
    empty when there are fewer than 3 buckets."""
    b = buckets(samples, warmup)
    out = {}
    if len(b) < 3:
        return out
    for key, limit in FLAT_LIMITS.items():
        pts = [(x, v[key]) for x, v in b]
        k = slope(pts)
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        line = ((pts[0][0], my + k * (pts[0][0] - mx)), (pts[-1][0], my + k * (pts[-1][0] - mx)))
        out[key] = (k, pts[0][1], pts[-1][1], limit, abs(k) <= limit, line)
    return out


def flat(samples, warmup):
    f = flatness(samples, warmup)
    return bool(f) and all(v[4] for v in f.values())


def flatness_table(samples, warmup):
    f = flatness(samples, warmup)
    if not f:
        return "(too few samples after the warm-up for a flatness verdict)"
    b = buckets(samples, warmup)
    width = "minute" if len(b) < 2 or b[1][0] - b[0][0] > 0.5 else "10 s"
    window = samples[-1]["t"] - warmup
    rows = [f"Flatness after a warm-up of {warmup / 60:.0f} min, over the last {window / 60:.0f} min: a "
            f"least-squares line through one value per {width} (RSS: median; fds, threads: minimum):", "",
            "| curve | window start | window end | slope per minute | limit per minute | verdict |",
            "|---|---:|---:|---:|---:|---|"]
    names = {"rss": "RSS (median)", "fds": "open fds (minimum)", "threads": "threads (minimum)"}
    for key, (k, a, b_, limit, ok, _line) in f.items():
        u = FLAT_UNITS[key]
        fa = f"{a:.1f} {u}" if key == "rss" else f"{a} {u}"
        fb = f"{b_:.1f} {u}" if key == "rss" else f"{b_} {u}"
        verdict = "flat" if ok else ("**rising**" if k > 0 else "**falling**")
        rows.append(f"| {names[key]} | {fa} | {fb} | {k:+.3f} | {limit} | {verdict} |")
    return "\n".join(rows)


def minute_table(samples, classes):
    """Per minute: median RSS (anonymous part), median and max fds and threads, operations
    per second of each class and errors (per class when any). A last minute of less than
    30 s is left out."""
    rows = ["| minute | RSS MiB (anon) | fds med / max | threads med / max | "
            + " | ".join(f"{c}/s" for c in classes) + " | errors |",
            "|---:|---:|---:|---:|" + "---:|" * len(classes) + "---|"]
    if not samples:
        return "\n".join(rows)
    minutes = int(samples[-1]["t"] // 60) + 1
    prev = {"t": 0.0, "done": {}, "failed": {}}
    for m in range(minutes):
        part = [s for s in samples if m * 60 <= s["t"] < (m + 1) * 60]
        if not part or (m > 0 and part[-1]["t"] - m * 60 < 30):  # a last minute cut short
            continue
        last = part[-1]

        def med(key):
            v = sorted(s[key] for s in part)
            return v[len(v) // 2]
        dt = max(1e-9, last["t"] - prev["t"])
        rates = [(last["done"].get(c, 0) - prev["done"].get(c, 0)) / dt for c in classes]
        errs = {c: last["failed"].get(c, 0) - prev["failed"].get(c, 0) for c in last["failed"]}
        errs = {c: n for c, n in errs.items() if n}
        etext = ", ".join(f"{c} {n}" for c, n in sorted(errs.items())) if errs else "0"
        rows.append(f"| {m + 1} | {med('rss'):.1f} ({med('anon'):.1f}) | {med('fds')} / {max(s['fds'] for s in part)} | "
                    f"{med('threads')} / {max(s['threads'] for s in part)} | "
                    + " | ".join(f"{r:.1f}" for r in rates) + f" | {etext} |")
        prev = last
    return "\n".join(rows)
