"""benchkit: the Python side shared by bench/scale, bench/concurrency, bench/soak and
bench/crypto (the older bench scripts are bash with bench/lib.sh).

What it offers:
  * Work: a temp work directory and process groups (every process started with
    Work.spawn runs in its own session; Work.close kills those groups, by id, and removes
    the directory unless kept). Ports are picked by the kernel (tresor serve --*-port 0,
    free_port for the clients' own listeners).
  * Tresor: `tresor init` of a fresh data directory with a peer for the DCMTK clients, a
    move destination, a reading and a storing user; serve, ports read from its log,
    bearer tokens, and /proc samples (RSS, open fds, threads, CPU).
  * Stream: a corpus that never exists on disk as a whole. A small template set written
    once by tests/tools/make_studies.py is turned into batch k by replacing, in each
    file's bytes before Pixel Data, the last 6 digits of every 2.25 UID with k and the
    generator's PatientID/AccessionNumber prefix ("PID01000", "ACC01000") with one
    carrying k: same lengths, so the files stay valid, and every batch has new
    patients, studies, series and instances.
  * findscu latencies measured inside one association (from findscu's own microsecond
    log stamps, as bench/query does), percentiles, the machine description.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GEN = os.path.join(ROOT, "tests", "tools", "make_studies.py")
PY = "/usr/bin/python3"
SCU_AET = "BENCHSCU"
DEST_AET = "STORESCP"
READER = ("benchr", "bench reader password")
WRITER = ("benchw", "bench writer password")
os.environ["TCP_NODELAY"] = "1"  # DCMTK reads it: no Nagle delays on small DIMSE messages


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of values, or None when empty."""
    if not values:
        return None
    v = sorted(values)
    rank = max(1, -(-len(v) * q // 100))
    return v[int(rank) - 1]


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1048576
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return f"{cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM, {os.uname().sysname} {os.uname().release}, load average {load}"


class Work:
    """A temp directory and the process groups started in it (killed on close)."""

    def __init__(self, name, keep=False):
        self.dir = tempfile.mkdtemp(prefix=f"tresor-bench-{name}.", dir=os.environ.get("TMPDIR", "/tmp"))
        self.keep = keep
        self.groups = []
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def spawn(self, args, log_path, **kw):
        out = open(log_path, "ab")
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, **kw)
        out.close()
        self.groups.append(p)
        return p

    @staticmethod
    def stop(p, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        else:  # the leader is gone: its group may still hold children
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self):
        for p in self.groups:
            self.stop(p)
        if self.keep:
            log(f"work directory kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}... failed ({r.returncode}): {r.stdout[-400:]}{r.stderr[-400:]}")
    return r.stdout


def scu_aet(i):
    """AE title of DCMTK client i (0: BENCHSCU)."""
    return f"BENCHSCU{i:02d}" if i else SCU_AET


def client_address(i):
    """Loopback source address of HTTP client i: 8 clients per address (127.0.0.2-...),
    like several workstations, each within web.max_connections_per_address."""
    return f"127.0.0.{2 + i // 8}"


def echo_ok(port, aec="TRESOR"):
    return subprocess.run(["echoscu", "-aet", SCU_AET, "-aec", aec, "-to", "2", "127.0.0.1", str(port)],
                          capture_output=True).returncode == 0


class Tresor:
    """One data directory served by one `tresor serve` at a time."""

    def __init__(self, work, binary, name="tresor"):
        self.work = work
        self.binary = binary
        self.data = os.path.join(work.dir, name + "-data")
        self.name = name
        self.proc = None
        self.log_path = None
        self.starts = 0

    def cli(self, *args, stdin=None):
        return run([self.binary, *args, "--data", self.data], input=stdin)

    def init(self, dest_port=None, fsync=True, scu_peers=0):
        """A fresh data directory with default config; peer "bench" (AE BENCHSCU) and,
        for loads of more than limits.max_associations_per_peer associations at once,
        scu_peers more peers bench01.. (AE scu_aet(i)), like that many modalities."""
        self.cli("init")
        for i in range(scu_peers + 1):
            self.cli("peer", "add", f"bench{i:02d}" if i else "bench", "--ae", scu_aet(i),
                     "--host", "127.0.0.1", "--allow", "echo,store,find,move,get", "--groups", "all")
        if dest_port:
            self.cli("peer", "add", "dest", "--ae", DEST_AET, "--host", "127.0.0.1", "--port",
                     str(dest_port), "--allow", "echo")
        self.cli("user", "add", READER[0], "--role", "radiologist", "--groups", "all",
                 "--password-stdin", stdin=READER[1] + "\n")
        self.cli("user", "add", WRITER[0], "--role", "technologist", "--groups", "all",
                 "--password-stdin", stdin=WRITER[1] + "\n")
        if not fsync:
            self.set_fsync(False)

    def set_fsync(self, on):
        conf = os.path.join(self.data, "tresor.conf")
        with open(conf) as f:
            text = f.read()
        text2 = re.sub(r"(?m)^fsync = (true|false)", f"fsync = {'true' if on else 'false'}", text)
        if text2 == text and f"fsync = {'true' if on else 'false'}" not in text:
            raise RuntimeError("no storage fsync key in tresor.conf")
        with open(conf, "w") as f:
            f.write(text2)

    def start(self, timeout=120):
        """Starts serving; returns seconds until the first C-ECHO was answered."""
        self.starts += 1
        self.log_path = os.path.join(self.work.dir, f"{self.name}-serve{self.starts}.log")
        t0 = time.monotonic()
        self.proc = self.work.spawn([self.binary, "serve", "--data", self.data, "--dicom-port", "0",
                                     "--dicom-tls-port", "0", "--http-port", "0"], self.log_path)
        self.dicom_port = self.https_port = None
        while time.monotonic() - t0 < timeout:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            m = re.findall(r"DICOM listener on [^ \n]*?:(\d+) ", text)
            h = re.findall(r"HTTPS listener on [^ \n]*?:(\d+)", text)
            if m and h:
                self.dicom_port, self.https_port = int(m[-1]), int(h[-1])
                if echo_ok(self.dicom_port):
                    return time.monotonic() - t0
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"tresor did not start; log tail:\n{open(self.log_path, errors='replace').read()[-2000:]}")

    def stop(self):
        if self.proc:
            Work.stop(self.proc, timeout=60)
            self.proc = None

    def token(self, user=READER):
        ctx = self.ssl_context()
        c = http.client.HTTPSConnection("127.0.0.1", self.https_port, context=ctx, timeout=30)
        c.request("POST", "/auth/token", json.dumps({"username": user[0], "password": user[1]}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"POST /auth/token: HTTP {r.status} {body[:200]!r}")
        return json.loads(body)["access_token"]

    def ssl_context(self):
        return ssl.create_default_context(cafile=os.path.join(self.data, "keys", "ca.pem"))

    def instances(self):
        out = self.cli("stats")
        m = re.search(r"(?m)^instances:\s*(\d+)", out)
        return int(m.group(1)) if m else None

    def sample(self):
        """(rss MiB, open fds, threads, cpu seconds) of the serving process."""
        return proc_sample(self.proc.pid)


def proc_sample(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, fds, threads, cpu


def cpu_times():
    """Per-core (busy, total) jiffies from /proc/stat."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if re.match(r"cpu\d+ ", line):
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + v[4]
                out.append((sum(v) - idle, sum(v)))
    return out


def core_busy(before, after):
    return [100.0 * (a[0] - b[0]) / max(1, a[1] - b[1]) for b, a in zip(before, after)]


class Stream:
    """Batches of new instances from one template set (see the module comment)."""

    PIXEL_TAG = b"\xe0\x7f\x10\x00"
    UID_RE = re.compile(rb"2\.25\.\d{12,}")

    def __init__(self, cache_dir, patients, series, instances, rows, cols, seed=1):
        key = subprocess.run(["sha256sum", GEN], capture_output=True, text=True).stdout[:8]
        self.dir = os.path.join(cache_dir, f"stream-{patients}x1x{series}x{instances}-{rows}x{cols}-s{seed}-{key}")
        if not os.path.exists(os.path.join(self.dir, ".complete")):
            shutil.rmtree(self.dir, ignore_errors=True)
            os.makedirs(cache_dir, exist_ok=True)
            if patients > 1000:
                raise ValueError("a template has at most 1000 patients (PID prefix patch)")
            run([PY, GEN, "--out", self.dir + ".tmp", "--patients", str(patients), "--studies", "1",
                 "--series", str(series), "--instances", str(instances), "--rows", str(rows),
                 "--cols", str(cols), "--seed", str(seed), "--jobs", str(os.cpu_count())])
            shutil.rmtree(self.dir, ignore_errors=True)
            os.rename(self.dir + ".tmp", self.dir)
            open(os.path.join(self.dir, ".complete"), "w").close()
        self.seed = seed
        prefix = f"{seed % 100:02d}000".encode()
        self.pid_prefix, self.acc_prefix = b"PID" + prefix, b"ACC" + prefix
        self.files = []   # (relative path, header bytes, rest bytes)
        self.rows = []    # manifest rows (dicts)
        with open(os.path.join(self.dir, "manifest.tsv")) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                with open(os.path.join(self.dir, row["path"]), "rb") as g:
                    data = g.read()
                at = data.rfind(self.PIXEL_TAG)
                at = len(data) if at < 0 else at
                self.files.append((row["path"], data[:at], data[at:]))
                self.rows.append(row)
        self.size = len(self.files)
        self.bytes = sum(len(h) + len(r) for _, h, r in self.files)

    def _patch(self, b, data):
        suffix = f"{b % 1000000:06d}".encode()
        data = self.UID_RE.sub(lambda m: m.group(0)[:-6] + suffix, data)
        mark = f"{b % 100000:05d}".encode()
        return data.replace(self.pid_prefix, b"PID" + mark).replace(self.acc_prefix, b"ACC" + mark)

    def uid(self, b, template_uid):
        return template_uid[:-6] + f"{b % 1000000:06d}"

    def patient_id(self, b, template_pid):
        return template_pid.replace(self.pid_prefix.decode(), f"PID{b % 100000:05d}")

    def write_batch(self, b, out_dir):
        """Writes batch b's files under out_dir (flat); returns their paths."""
        os.makedirs(out_dir, exist_ok=True)
        paths = []
        for n, (_, head, rest) in enumerate(self.files):
            p = os.path.join(out_dir, f"{n:05d}.dcm")
            with open(p, "wb") as f:
                f.write(self._patch(b, head))
                f.write(rest)
            paths.append(p)
        return paths

    def instance_bytes(self, b, n):
        _, head, rest = self.files[n]
        return self._patch(b, head) + rest

    def study(self, b, n=0):
        """(PatientID, StudyUID, SeriesUID, SOPUID) of instance n of batch b."""
        r = self.rows[n]
        return (self.patient_id(b, r["patient_id"]), self.uid(b, r["study_uid"]),
                self.uid(b, r["series_uid"]), self.uid(b, r["sop_uid"]))


FINDSCU_LOGCFG = """log4cplus.rootLogger = INFO, out
log4cplus.appender.out = log4cplus::ConsoleAppender
log4cplus.appender.out.layout = log4cplus::PatternLayout
log4cplus.appender.out.layout.ConversionPattern = %D{%s.%Q} %p %m%n
log4cplus.appender.out.filters.1 = log4cplus::spi::StringMatchFilter
log4cplus.appender.out.filters.1.StringToMatch = Find Re
log4cplus.appender.out.filters.1.AcceptOnMatch = true
log4cplus.appender.out.filters.2 = log4cplus::spi::LogLevelRangeFilter
log4cplus.appender.out.filters.2.LogLevelMin = WARN
log4cplus.appender.out.filters.2.AcceptOnMatch = true
"""


def find_keys(patient_id="", name="", date=""):
    keys = ["0008,0005=ISO_IR 192", "QueryRetrieveLevel=STUDY", f"StudyDate={date}", "StudyTime",
            "AccessionNumber", "StudyDescription", f"PatientName={name}", f"PatientID={patient_id}",
            "StudyInstanceUID"]
    out = []
    for k in keys:
        out += ["-k", k]
    return out


def findscu_latencies(work_dir, port, keys, count, aec="TRESOR"):
    """count C-FINDs (after one warm-up) over one association; returns [(ms, matches, status)]."""
    cfg = os.path.join(work_dir, "findscu.logcfg")
    if not os.path.exists(cfg):
        with open(cfg, "w") as f:
            f.write(FINDSCU_LOGCFG)
    r = subprocess.run(["findscu", "-lc", cfg, "-aet", SCU_AET, "-aec", aec, "-S", "--repeat",
                        str(count + 1), *keys, "127.0.0.1", str(port)], capture_output=True, text=True)

    def ts(s):
        a = s.split(".")
        return int(a[0]) * 1e6 + int(a[1]) * 1000 + int(a[2])

    out, t0, n, rep = [], 0, 0, 0
    for line in (r.stdout + r.stderr).splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        if "Sending Find Request" in line:
            t0, n = ts(parts[0]), 0
        elif re.search(r"Find Response: \d+ \(Pending", line):
            n += 1
        elif "Received Final Find Response" in line:
            st = re.sub(r".*Received Final Find Response \(", "", line).rstrip(")")
            if rep > 0:
                out.append(((ts(parts[0]) - t0) / 1000, n, st))
            rep += 1
    return out


class Https:
    """One keep-alive HTTPS connection with a bearer token (reconnects when closed)."""

    def __init__(self, port, ctx, token, source=None):
        self.port, self.ctx, self.token = port, ctx, token
        self.source = (source, 0) if source else None
        self.conn = None

    def request(self, method, path, headers=None, body=None):
        """Returns (status, body bytes, seconds)."""
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60,
                                                        source_address=self.source)
            t0 = time.monotonic()
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                dt = time.monotonic() - t0
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data, dt
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ssl.SSLZeroReturnError):
                self.conn.close()
                self.conn = None
                if attempt == 1 or body is not None:
                    raise
        raise RuntimeError("unreachable")


def stow_body(parts):
    """multipart/related body of application/dicom parts; returns (content type, bytes)."""
    boundary = "tresorbenchboundary7d1e"
    out = []
    for p in parts:
        out.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        out.append(p)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f'multipart/related; type="application/dicom"; boundary={boundary}', b"".join(out)


class Stats:
    """Thread-safe per-class latencies (s) and error counts, with a time series of ops."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}
        self.errors = {}
        self.units = {}
        self.error_samples = {}
        self.events = []   # (monotonic time, class, units)

    def ok(self, cls, seconds, units=1):
        with self.lock:
            self.lat.setdefault(cls, []).append(seconds)
            self.units[cls] = self.units.get(cls, 0) + units
            self.events.append((time.monotonic(), cls, units))

    def error(self, cls, what):
        with self.lock:
            self.errors[cls] = self.errors.get(cls, 0) + 1
            self.error_samples.setdefault(cls, [])
            if len(self.error_samples[cls]) < 5:
                self.error_samples[cls].append(what[:300])

    def table(self, elapsed, unit_names):
        rows = ["| class | operations | errors | per s | units/s | p50 ms | p90 ms | p99 ms | max ms |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for cls in sorted(set(self.lat) | set(self.errors)):
            lat = [x * 1000 for x in self.lat.get(cls, [])]
            unit = unit_names.get(cls, "")
            units = self.units.get(cls, 0)
            rows.append(f"| {cls} | {len(lat)} | {self.errors.get(cls, 0)} | {len(lat) / elapsed:.1f} | "
                        f"{units / elapsed:.1f} {unit} | {fmt(percentile(lat, 50))} | {fmt(percentile(lat, 90))} | "
                        f"{fmt(percentile(lat, 99))} | {fmt(max(lat) if lat else None)} |")
        return "\n".join(rows)


def link_from_bench(path):
    """How bench/RESULTS.md links to `path`: relative when it lies under bench/."""
    rel = os.path.relpath(os.path.abspath(path), HERE)
    return path if rel.startswith("..") else rel


def write_results(name, text):
    """bench/run-all's contract: the tables as markdown in $BENCH_RESULTS_DIR/<name>.md."""
    d = os.environ.get("BENCH_RESULTS_DIR")
    if d:
        with open(os.path.join(d, f"{name}.md"), "w") as f:
            f.write(text)
