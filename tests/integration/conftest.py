"""Integration-test fixtures: protobuf stubs generated from the repo's protos at test
time, and the real io-engine daemon started on a free loopback port.

Environment: IOE_BUILD_DIR (default <repo>/build) selects the build under test, so the
same tests run against the normal and the ASan+UBSan builds."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("IOE_BUILD_DIR", os.path.join(REPO, "build")))
ENGINE = os.path.join(BUILD, "src", "io-engine")
CLIENT = os.path.join(BUILD, "cli", "io-engine-client")
PERF = os.path.join(BUILD, "bench", "ioe-perf")
STREAM_SERVER = os.path.join(BUILD, "tests", "integration", "stream_server")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def _generate_stubs():
    out = tempfile.mkdtemp(prefix="ioe-stubs-")
    for sub in ("v1", "v0"):
        d = os.path.join(REPO, "proto", sub)
        protos = sorted(f for f in os.listdir(d) if f.endswith(".proto"))
        subprocess.run(
            ["protoc", f"-I{d}", "-I/usr/include", f"--python_out={out}", f"--grpc_python_out={out}",
             "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + protos,
            check=True, cwd=d, stderr=subprocess.DEVNULL)
    return out


# Stubs must exist before test modules import them.
sys.path.insert(0, _generate_stubs())


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host, port, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Engine:
    """One io-engine process. stop() sends SIGTERM and checks a clean exit."""

    def __init__(self, args=(), env=None, host="127.0.0.1", port=None, tmpdir=None,
                 nvmf_ports=True):
        self.host = host
        self.port = port or free_port()
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="ioe-")
        self.sock = os.path.join(self.tmpdir, "engine.sock")
        self.log_path = os.path.join(self.tmpdir, "engine.log")
        self.args = ["--grpc-ip", host, "--grpc-port", str(self.port), "-r", self.sock] + list(args)
        # Each daemon gets NVMe-oF ports of its own (several run side by side), through a
        # config file unless the test brings its own.
        self.nvmf_port = self.nexus_port = None
        if "-y" not in args and nvmf_ports:
            if nvmf_ports is True:
                a = free_port()
                b = free_port()
                while b == a:
                    b = free_port()
                nvmf_ports = (a, b)
            self.nvmf_port, self.nexus_port = nvmf_ports
            cfg = os.path.join(self.tmpdir, "engine.yaml")
            with open(cfg, "w") as f:
                f.write(f"nexus_opts:\n  nvmf_replica_port: {self.nvmf_port}\n"
                        f"  nvmf_nexus_port: {self.nexus_port}\n")
            self.args += ["-y", cfg]
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    @property
    def endpoint(self):
        return f"{self.host}:{self.port}"

    def start(self, wait=True):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([ENGINE] + self.args, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait and not wait_port(self.host, self.port, self.proc):
            self.kill()
            raise RuntimeError(f"io-engine did not start:\n{self.output()}")
        return self

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.log.close()

    def assert_clean(self):
        out = self.output()
        for marker in SANITIZER_MARKERS:
            assert marker not in out, out


@pytest.fixture
def engine_factory():
    engines = []

    def make(*args, env=None, start=True, **kw):
        e = Engine(args, env=env, **kw)
        engines.append(e)
        return e.start() if start else e

    yield make
    for e in engines:
        if e.proc and e.proc.poll() is None:
            rc = e.stop()
            assert rc == 0, f"io-engine exited {rc}:\n{e.output()}"
        if e.proc:
            e.assert_clean()


@pytest.fixture
def engine(engine_factory):
    return engine_factory()


@pytest.fixture
def channel(engine):
    import grpc
    ch = grpc.insecure_channel(engine.endpoint)
    yield ch
    ch.close()
