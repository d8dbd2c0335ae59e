"""A real Linux NVMe/TCP initiator and kernel target for the integration tests: a
QEMU TCG guest running Debian 12's kernel with a busybox initramfs (tests/qemu/).

    from qemu_guest import run_guest, Guest, GUEST_GW, HOSTS

    res = run_guest(script, ports=[8420], timeout=120)
    assert res.ready and res.rc == 0, res.output

run_guest() boots one guest, runs `script` (busybox sh) in it as /test.sh, collects the
serial console and returns a GuestResult; the guest powers off after the script. In the
script, $GW (= $IOE_GW = 10.0.2.100) is the host's loopback: a guest connection to
$GW:P reaches host 127.0.0.1:P for every P in `ports` (or 127.0.0.1:H for a (P, H) pair).
$IOE_PORTS lists the forwarded guest ports, $IOE_HOSTFWD the guest ports reachable from the
host. The guest can reach nothing else (slirp restrict=on).

For steps that the host must interleave with (connect in the guest, then stop the target on
the host, then look again in the guest), use Guest(..., interactive=True) and guest.run(cmd).

For a target nobody here wrote, KernelTarget (or the kernel_target() context manager) boots
a guest running Linux's own NVMe/TCP target (nvmet-tcp, set up by tests/qemu/guest/ioe-nvmet)
that the host reaches at 127.0.0.1:KernelTarget.port:

    with kernel_target(tmp_path, nqn, size_mb=64) as t:
        adm, ios = nvme_tcp.connect_ctrlr(t.port, t.nqn, incapsule_max=16384)
        t.down(); t.up()

Missing host packages are a hard failure (pytest.fail), never a skip: these tests must run
in CI. Environment: IOE_QEMU_CACHE (default /var/tmp/ioe-qemu) holds the kernel and the
initramfs builds, reused across runs.
"""
import base64
import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import namedtuple
from dataclasses import dataclass
from typing import Optional

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QEMU_DIR = os.path.join(REPO, "tests", "qemu")
RUN_GUEST = os.path.join(QEMU_DIR, "run-guest.sh")

GUEST_GW = "10.0.2.100"   # the host's loopback, as the guest sees it (guestfwd)
GUEST_IP = "10.0.2.15"    # the guest's own address (hostfwd targets it)
READY_MARKER = "NVMe TCP ready"
_RC_RE = re.compile(r"/test\.sh rc=(\d+)")

Host = namedtuple("Host", "nqn hostid")


def _load_hosts():
    hosts = {}
    with open(os.path.join(QEMU_DIR, "guest", "hosts.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and not parts[0].startswith("#"):
                hosts[parts[0]] = Host(parts[1], parts[2])
    return hosts


# The guest's NVMe host identities: it boots as HOSTS["a"]; `ioe-host b` in a guest script
# switches to "b" (writes /etc/nvme/hostnqn and /etc/nvme/hostid), `ioe-host NQN ID` to any.
HOSTS = _load_hosts()

# host tool -> Debian package (scripts/install-deps.sh installs them all)
_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static", "nvme": "nvme-cli",
    "mke2fs": "e2fsprogs", "e2fsck": "e2fsprogs", "modprobe": "kmod", "depmod": "kmod",
    "cpio": "cpio", "gzip": "gzip", "dpkg-deb": "dpkg", "apt-get": "apt", "flock": "util-linux",
    "timeout": "coreutils",
}
_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"


def check_prereqs():
    """Fail (not skip) the calling test if a host tool is missing."""
    missing = sorted({pkg for tool, pkg in _TOOLS.items() if not shutil.which(tool, path=_PATH)})
    if missing:
        pytest.fail("QEMU guest tests need the Debian packages " + " ".join(missing) +
                    " (run scripts/install-deps.sh as root)", pytrace=False)


_prepared = None
_prepare_lock = threading.Lock()


def prepare():
    """Fetch the kernel and build the initramfs (both cached in IOE_QEMU_CACHE); once per
    process. Returns {"KV": ..., "KROOT": ..., "KERNEL": ..., "INITRD": ...}."""
    global _prepared
    with _prepare_lock:
        if _prepared:
            return _prepared
        check_prereqs()
        env = dict(os.environ, PATH=_PATH)
        vals = {}
        for script in ("fetch-kernel.sh", "build-initramfs.sh"):
            p = subprocess.run([os.path.join(QEMU_DIR, script)], env=dict(env, **vals),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                pytest.fail(f"tests/qemu/{script} failed (rc={p.returncode}):\n{p.stderr}",
                            pytrace=False)
            for tok in p.stdout.strip().splitlines()[-1].split():
                k, _, v = tok.partition("=")
                vals[k] = v
        for k in ("KERNEL", "INITRD"):
            if not os.path.isfile(vals.get(k, "")):
                pytest.fail(f"tests/qemu: no {k} after fetch/build ({vals})", pytrace=False)
        _prepared = vals
        return vals


@dataclass
class GuestResult:
    output: str            # serial console, \r removed
    rc: Optional[int]      # /test.sh's exit code; None if the marker never appeared
    ready: bool            # the guest printed "NVMe TCP ready" (nvme-tcp loaded, NIC up)
    timed_out: bool        # killed at the timeout
    seconds: float         # wall time from QEMU start to exit

    @property
    def ok(self):
        return self.ready and self.rc == 0 and not self.timed_out

    def check(self):
        """Raise AssertionError with the console output unless the script passed."""
        if not self.ok:
            raise AssertionError(f"guest failed: rc={self.rc} ready={self.ready} "
                                 f"timed_out={self.timed_out}\n--- console ---\n{self.output}")
        return self


@dataclass
class CmdResult:
    output: str   # stdout+stderr of the command in the guest
    rc: int


def _norm_ports(ports):
    out = []
    for p in ports:
        g, h = (p, p) if isinstance(p, int) else p
        for x in (g, h):
            if not isinstance(x, int) or not 1 <= x <= 65535:
                raise ValueError(f"bad port {p!r}")
        out.append((g, h))
    return out


class Guest:
    """One guest boot. Guest(script, ports=[8420, (4420, 34567)], hostfwd=[(hport, gport)]).

    ports:    guest 10.0.2.100:G -> host 127.0.0.1:H; an int P means G = H = P.
    hostfwd:  host 127.0.0.1:H -> guest 10.0.2.15:G, as (H, G); an int P means H = G = P.
    files:    {guest_path: bytes or str} put into the guest's filesystem before /init runs.
    timeout:  seconds from start until QEMU is killed.
    interactive: after `script`, the guest serves commands on a second serial port:
                 guest.run(cmd) -> CmdResult; guest.close() (or wait()) ends it.
    log_path: also write the console there, as it arrives.
    """

    def __init__(self, script="", ports=(), hostfwd=(), files=None, timeout=300, append="",
                 mem=1024, smp=2, interactive=False, log_path=None):
        self.script = script
        self.ports = _norm_ports(ports)
        self.hostfwd = _norm_ports(hostfwd)
        self.files = dict(files or {})
        self.timeout = timeout
        self.append = append
        self.mem, self.smp = mem, smp
        self.interactive = interactive
        self.log_path = log_path
        self.proc = None
        self.result = None
        self._buf = []
        self._cond = threading.Condition()
        self._eof = False
        self._ctl = None
        self._ctl_buf = b""

    # --- lifecycle
    def start(self):
        vals = prepare()
        self._work = tempfile.mkdtemp(prefix="ioe-qemu-")
        script = self.script
        if self.interactive:
            script = script + "\nexec ioe-ctl /dev/ttyS1\n"
        with open(os.path.join(self._work, "test.sh"), "w") as f:
            f.write(script)
        args = [RUN_GUEST, "-t", str(int(self.timeout) + 5), "-m", str(self.mem), "-n", str(self.smp)]
        for g, h in self.ports:
            args += ["-p", f"{g}:{h}"]
        for h, g in self.hostfwd:
            args += ["-H", f"{h}:{g}"]
        for i, (dst, data) in enumerate(self.files.items()):
            src = os.path.join(self._work, f"file{i}")
            with open(src, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
            args += ["-f", f"{src}:{dst}"]
        if self.append:
            args += ["-a", self.append]
        if self.interactive:
            self._ctl_path = os.path.join(self._work, "ctl.sock")
            args += ["-c", self._ctl_path]
        args.append(os.path.join(self._work, "test.sh"))
        env = dict(os.environ, PATH=_PATH, KERNEL=vals["KERNEL"], INITRD=vals["INITRD"],
                   IOE_QEMU_WORKDIR=os.path.join(self._work, "boot"))
        self._log = open(self.log_path, "w") if self.log_path else None
        self._t0 = time.time()
        self._deadline = self._t0 + self.timeout
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if self.interactive:
            self._connect_ctl()
        return self

    def _read(self):
        for raw in iter(lambda: self.proc.stdout.readline(), b""):
            line = raw.decode(errors="replace").replace("\r", "")
            with self._cond:
                self._buf.append(line)
                if self._log:
                    self._log.write(line)
                    self._log.flush()
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def output(self):
        with self._cond:
            return "".join(self._buf)

    def wait_for(self, pattern, timeout=None):
        """Wait until the console matches the regex `pattern`; returns the match. Raises
        AssertionError (with the console) on timeout or if the guest exits first."""
        rx = re.compile(pattern)
        end = min(self._deadline, time.time() + timeout) if timeout else self._deadline
        with self._cond:
            while True:
                m = rx.search("".join(self._buf))
                if m:
                    return m
                left = end - time.time()
                if self._eof or left <= 0:
                    raise AssertionError(f"guest console never matched {pattern!r}"
                                         f"{' (guest exited)' if self._eof else ''}:\n{''.join(self._buf)}")
                self._cond.wait(min(left, 1.0))

    def wait(self, timeout=None):
        """Wait for the guest to power off (or kill it at its deadline); returns GuestResult."""
        if self.result:
            return self.result
        if self._ctl:
            self.close()
        end = min(self._deadline, time.time() + timeout) if timeout else self._deadline
        timed_out = False
        try:
            self.proc.wait(max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill()
        self._reader.join(10)
        out = self.output
        rcs = _RC_RE.findall(out)
        self.result = GuestResult(output=out, rc=int(rcs[-1]) if rcs else None,
                                  ready=READY_MARKER in out, timed_out=timed_out,
                                  seconds=time.time() - self._t0)
        self._cleanup()
        return self.result

    def kill(self):
        """Stop this guest's QEMU (and its relays): only our own process group."""
        if self.proc and self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def _cleanup(self):
        if self._ctl:
            self._ctl.close()
            self._ctl = None
        if self._log:
            self._log.close()
            self._log = None
        shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        if self.result is None:
            if exc[0] is not None:
                self.kill()
            self.wait()
        return False

    # --- interactive channel (second serial port; guest side is tests/qemu/guest/ioe-ctl)
    def _connect_ctl(self):
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self._ctl_path)
                self._ctl = s
                return
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if self.proc.poll() is not None or time.time() > self._deadline:
                    raise AssertionError(f"guest control socket never appeared:\n{self.output}")
                time.sleep(0.05)

    def _ctl_line(self, deadline):
        while b"\n" not in self._ctl_buf:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"guest command timed out:\n{self.output}")
            self._ctl.settimeout(min(left, 1.0))
            try:
                d = self._ctl.recv(65536)
            except socket.timeout:
                if self.proc.poll() is not None:
                    raise AssertionError(f"guest exited during a command:\n{self.output}")
                continue
            if not d:
                raise AssertionError(f"guest control channel closed:\n{self.output}")
            self._ctl_buf += d
        line, _, self._ctl_buf = self._ctl_buf.partition(b"\n")
        return line.decode(errors="replace").strip()

    def run(self, cmd, timeout=120):
        """Run shell command `cmd` in the guest (interactive=True); returns CmdResult."""
        assert self._ctl, "Guest(interactive=True) and start() first"
        deadline = min(self._deadline, time.time() + timeout)
        if not getattr(self, "_ctl_ready", False):
            while self._ctl_line(deadline) != "IOE-CTL READY":
                pass
            self._ctl_ready = True
        self._ctl.sendall(b"RUN " + base64.b64encode(cmd.encode()) + b"\n")
        out = None
        while True:
            line = self._ctl_line(deadline)
            if line.startswith("OUT"):
                out = base64.b64decode(line[3:].strip()).decode(errors="replace")
            elif line.startswith("RC ") and out is not None:
                return CmdResult(out, int(line[3:]))

    def close(self):
        """End the interactive loop: the guest's /test.sh ends with rc=0 and it powers off."""
        if self._ctl:
            try:
                self._ctl.sendall(b"EXIT\n")
            except OSError:
                pass
            self._ctl.close()
            self._ctl = None


def run_guest(script, ports=(), hostfwd=(), timeout=300, files=None, append="", mem=1024,
              smp=2, log_path=None):
    """Boot a guest, run `script` as /test.sh, return GuestResult(output, rc, ready,
    timed_out, seconds) once it powered off (or was killed at `timeout` seconds)."""
    g = Guest(script, ports=ports, hostfwd=hostfwd, files=files, timeout=timeout, append=append,
              mem=mem, smp=smp, log_path=log_path)
    g.start()
    try:
        return g.wait()
    finally:
        g.kill()


@pytest.fixture
def guest_factory(tmp_path):
    """make(script, **Guest kwargs) -> started Guest; every guest is stopped at teardown.
    Console logs go to tmp_path/guest-N.log. Import it into a test module to use it."""
    guests = []

    def make(script="", **kw):
        kw.setdefault("log_path", str(tmp_path / f"guest-{len(guests)}.log"))
        g = Guest(script, **kw)
        guests.append(g)
        return g.start()

    yield make
    for g in guests:
        g.kill()
        if g.result is None:
            g.wait(timeout=1)


# --- the Linux kernel's NVMe/TCP target (nvmet-tcp) in a guest, for host-side tests ---

KERNEL_TARGET_NQN = "nqn.2014-08.io.openebs.test:kernel-target"
_NVMET_LINE = re.compile(r"^ioe-nvmet: (.*)$", re.M)


def _free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kv(line):
    return dict(tok.partition("=")[::2] for tok in line.split() if "=" in tok)


class KernelTarget:
    """Linux's own NVMe/TCP target (nvmet + nvmet-tcp, Debian 12's 6.1 kernel) in a QEMU
    guest, reachable from the host at 127.0.0.1:`port` (slirp hostfwd to the guest's
    10.0.2.15:`guest_port`). Set up by tests/qemu/guest/ioe-nvmet: subsystem `nqn` with any
    host allowed, namespace 1 of `size_mb` MiB (guest RAM, 512-byte LBAs, keeps its data
    until the guest powers off), fixed serial number and namespace UUID/NGUID.

        with KernelTarget(nqn, size_mb=64, log_path=str(tmp_path / "target.log")) as t:
            adm, ios = nvme_tcp.connect_ctrlr(t.port, t.nqn)
            t.down()     # unlinked from its port: live connections are shut down by the
                         # kernel, new ones are refused
            t.up()       # linked again; returns once an ICReq is answered again

    start() boots the guest, runs `ioe-nvmet setup`, and returns once an ICReq through the
    forwarded port gets an ICResp (about 10 s under TCG). Attributes: port, nqn, size_mb,
    guest_port, guest (the interactive Guest), serial, model, namespaces ({nsid: {"uuid",
    "nguid", "device", "size_mb", ...}} as ioe-nvmet printed them), setup_output,
    boot_seconds (start() until the guest serves commands) and ready_seconds (start() until
    reachable). run(cmd) runs a guest shell command (CmdResult); check(cmd) asserts rc 0
    and returns the output. host_port=None picks a free loopback port (and another one if
    QEMU could not bind it). setup_env: environment for `ioe-nvmet setup`, e.g.
    {"IOE_NVMET_INLINE": 8192} or {"IOE_NVMET_BACKING": "file"}.
    """

    def __init__(self, nqn=KERNEL_TARGET_NQN, size_mb=64, host_port=None, guest_port=4420,
                 log_path=None, timeout=600, setup_env=None, **guest_kw):
        self.nqn = nqn
        self.size_mb = size_mb
        self.port = host_port
        self._auto_port = host_port is None
        self.guest_port = guest_port
        self.log_path = log_path
        self.timeout = timeout
        self.setup_env = dict(setup_env or {})
        self.guest_kw = guest_kw
        self.guest = None
        self.namespaces = {}
        self.serial = self.model = None
        self.setup_output = ""
        self.boot_seconds = self.ready_seconds = None
        self.result = None

    # --- lifecycle
    def start(self):
        t0 = time.time()
        for attempt in range(3):
            port = _free_loopback_port() if self._auto_port else self.port
            g = Guest("", hostfwd=[(port, self.guest_port)], interactive=True,
                      timeout=self.timeout, log_path=self.log_path, **self.guest_kw)
            try:
                g.start()
                break
            except AssertionError:
                out = g.output
                g.kill()
                g.wait(timeout=5)
                # another process took the port between our probe and QEMU's bind
                if self._auto_port and "host forwarding rule" in out and attempt < 2:
                    continue
                raise
        self.guest, self.port = g, port
        env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in self.setup_env.items())
        try:
            r = self.guest.run("true", timeout=120)  # the guest serves commands: booted
            self.boot_seconds = time.time() - t0
            assert r.rc == 0, r
            self.setup_output = self.check(f"{env} ioe-nvmet setup {shlex.quote(self.nqn)} "
                                           f"{int(self.size_mb)} {int(self.guest_port)}")
            self._parse(self.setup_output)
            assert 1 in self.namespaces and self.serial, self.setup_output
            self.wait_reachable()
        except BaseException:
            # no __exit__ after a failed __enter__: do not leave QEMU running
            self.guest.kill()
            self.result = self.guest.wait(timeout=5)
            raise
        self.ready_seconds = time.time() - t0
        return self

    def _parse(self, out):
        for line in _NVMET_LINE.findall(out):
            kv = _kv(line)
            if "ns" in kv and kv.get("nqn") == self.nqn:
                self.namespaces[int(kv["ns"])] = kv
            elif "serial" in kv and kv.get("nqn") == self.nqn:
                self.serial, self.model = kv["serial"], kv.get("model")

    def close(self):
        """Power the guest off; returns its GuestResult (console in .output)."""
        if self.guest and self.result is None:
            self.guest.close()
            self.result = self.guest.wait(timeout=30)
        return self.result

    def __enter__(self):
        return self.start() if self.guest is None else self

    def __exit__(self, *exc):
        if exc[0] is not None and self.guest:
            self.guest.kill()
        self.close()
        return False

    # --- guest commands
    def run(self, cmd, timeout=60):
        """Run shell command `cmd` in the guest; returns CmdResult(output, rc)."""
        return self.guest.run(cmd, timeout=timeout)

    def check(self, cmd, timeout=60):
        """Run `cmd` in the guest, assert it exits 0, return its output."""
        r = self.run(cmd, timeout)
        assert r.rc == 0, f"guest command failed (rc={r.rc}): {cmd}\n{r.output}"
        return r.output

    def down(self):
        """`ioe-nvmet down NQN`: the subsystem is unlinked from its port. The kernel shuts
        down the connections of its controllers there at once (the host sees them close)
        and, the port having no subsystem left, stops listening."""
        return self.check(f"ioe-nvmet down {shlex.quote(self.nqn)}")

    def up(self, wait=True):
        """`ioe-nvmet up NQN`: linked to its port again; with wait, returns once an ICReq
        through the forwarded port is answered."""
        out = self.check(f"ioe-nvmet up {shlex.quote(self.nqn)}")
        if wait:
            self.wait_reachable()
        return out

    def allow(self, hostnqn):
        """Only `hostnqn` (and hosts allowed before) may connect; existing connections stay."""
        return self.check(f"ioe-nvmet allow {shlex.quote(hostnqn)} {shlex.quote(self.nqn)}")

    def allow_any(self):
        """Any host may connect again."""
        return self.check(f"ioe-nvmet allow-any {shlex.quote(self.nqn)}")

    def add_ns(self, nsid, size_mb):
        """One more namespace (same backing as namespace 1); returns its ioe-nvmet fields."""
        out = self.check(f"ioe-nvmet add-ns {shlex.quote(self.nqn)} {int(nsid)} {int(size_mb)}")
        self._parse(out)
        return self.namespaces[int(nsid)]

    # --- reachability from the host
    def reachable(self, timeout=3.0):
        """True if an ICReq to 127.0.0.1:port gets an ICResp within `timeout` seconds.
        (slirp accepts a host connection before it reaches the guest, so a bare TCP
        connect says nothing; a port the guest does not listen on closes at once.)"""
        import nvme_tcp
        try:
            with nvme_tcp.Queue("127.0.0.1", self.port, timeout=timeout) as q:
                q.icreq()
                return True
        except (OSError, ConnectionError, AssertionError, nvme_tcp.TermReq):
            return False

    def wait_reachable(self, timeout=60.0):
        deadline = time.time() + timeout
        while not self.reachable():
            if time.time() > deadline:
                raise AssertionError(f"kernel target never answered an ICReq on 127.0.0.1:"
                                     f"{self.port}:\n{self.guest.output[-4000:]}")
            time.sleep(0.2)


@contextlib.contextmanager
def kernel_target(tmp_path, nqn=KERNEL_TARGET_NQN, size_mb=64, host_port=None, **kw):
    """`with kernel_target(tmp_path, nqn) as t:` a started KernelTarget whose console goes
    to tmp_path/kernel-target.log; powered off (killed on an exception) at the end."""
    kw.setdefault("log_path", str(tmp_path / "kernel-target.log"))
    with KernelTarget(nqn, size_mb=size_mb, host_port=host_port, **kw) as t:
        yield t
