"""The daemon process: flags, configuration files, start-up errors, signals, idle CPU."""
import os
import signal
import socket
import subprocess
import threading
import time

import grpc
import pytest
from google.protobuf import empty_pb2

import host_pb2
import host_pb2_grpc
from conftest import ENGINE, Engine, free_port, wait_port


def run_engine(*args, env=None, timeout=10):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([ENGINE] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=e)


def test_help_and_version():
    r = run_engine("--help")
    assert r.returncode == 0
    for flag in ("--grpc-ip", "--grpc-port", "--grpc-endpoint", "--api-versions", "-N", "-r",
                 "-l", "-m", "-p", "-R", "-P", "-y", "--busy-poll"):
        assert flag in r.stdout
    r = run_engine("--version")
    assert r.returncode == 0 and r.stdout.startswith("io-engine ")


@pytest.mark.parametrize("args,needle", [
    (["--bogus"], "unknown option '--bogus'"),
    (["-Z"], "unknown option '-Z'"),
    (["--grpc-port"], "requires a value"),
    (["--grpc-port", "70000"], "--grpc-port"),
    (["--grpc-port", "abc"], "--grpc-port"),
    (["--grpc-ip", "not-an-ip"], "--grpc-ip"),
    (["-g", "1.2.3.4:99999"], "grpc-endpoint"),
    (["--api-versions", "v2"], "--api-versions"),
    (["--api-versions", ""], "--api-versions"),
    (["-m", "0xZZ"], "core mask"),
    (["-l", "0,1,4096"], "core list"),
    (["-l", "63"], "does not exist"),
    (["-p", "host:notaport"], "-p"),
    (["-R", "no-scheme"], "-R"),
    (["--ps-timeout", "ten"], "--ps-timeout"),
    (["--tgt-crdt", "101"], "--tgt-crdt"),
    (["-T", "ip:300.1.1.1"], "tgt-iface"),
    (["--enable-lvm=maybe"], "--enable-lvm"),
    (["127.0.0.1", "10124", "extra"], "unexpected argument"),
])
def test_bad_flags(args, needle):
    r = run_engine(*args)
    assert r.returncode == 2, r
    assert needle in r.stderr, r.stderr
    assert "--help" in r.stderr


def test_bad_environment():
    r = run_engine(env={"API_VERSIONS": "v9"})
    assert r.returncode == 2 and "API_VERSIONS" in r.stderr


@pytest.mark.parametrize("content,needle", [
    ("nexus_opts:\n  nvmf_replica_port: 99999\n", "nvmf_replica_port"),
    ("bogus_section: {}\n", "unknown key 'bogus_section'"),
    ("nexus_opts: [unclosed\n", "YAML error"),
])
def test_bad_config_file(tmp_path, content, needle):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(content)
    r = run_engine("-y", str(cfg), "--grpc-ip", "127.0.0.1", "--grpc-port", str(free_port()),
                   "-r", str(tmp_path / "s.sock"))
    assert r.returncode == 1 and needle in r.stderr, r.stderr


def test_missing_pool_file_is_an_error(tmp_path):
    r = run_engine("-P", str(tmp_path / "nope.yaml"))
    assert r.returncode == 1 and "nope.yaml" in r.stderr


def test_bad_pool_file(tmp_path):
    p = tmp_path / "pools.yaml"
    p.write_text("pools:\n  - name: p0\n    disks: [/dev/a, /dev/b]\n")
    r = run_engine("-P", str(p))
    assert r.returncode == 1 and "exactly one device" in r.stderr


def test_config_files_accepted(engine_factory, tmp_path):
    cfg = tmp_path / "config.yaml"
    p1, p2 = free_port(), free_port()
    cfg.write_text(f"nexus_opts:\n  nvmf_replica_port: {p1}\n  nvmf_nexus_port: {p2}\n"
                   "eal_opts:\n  core_list: '0'\n")
    pools = tmp_path / "pools.yaml"
    pools.write_text("pools:\n  - name: p0\n    disks: ['aio:///dev/sdz']\n    backend: Lvs\n")
    e = engine_factory("-y", str(cfg), "-P", str(pools))
    assert host_pb2_grpc.HostRpcStub(grpc.insecure_channel(e.endpoint)).GetMayastorInfo(
        empty_pb2.Empty()).version
    assert e.stop() == 0
    # An empty or missing -y file means defaults (NVMe-oF on 8420 and 4421: one at a time).
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert engine_factory("-y", str(empty)).stop() == 0
    assert engine_factory("-y", str(tmp_path / "missing.yaml")).stop() == 0


def test_legacy_endpoint_and_positional(engine_factory, tmp_path):
    port = free_port()
    e = Engine([], port=port)
    e.args = ["-g", f"127.0.0.1:{port}", "-r", e.sock]
    e.start()
    assert e.stop() == 0
    port = free_port()
    e = Engine([], port=port)
    e.args = ["-r", e.sock, "127.0.0.1", str(port)]
    e.start()
    assert e.stop() == 0
    # -g without a port keeps --grpc-port.
    port = free_port()
    e = Engine([], port=port)
    e.args = ["--grpc-port", str(port), "-g", "127.0.0.1", "-r", e.sock]
    e.start()
    assert e.stop() == 0


def test_port_in_use(engine_factory):
    first = engine_factory()
    e = Engine([], port=first.port)
    e.start(wait=False)
    assert e.proc.wait(timeout=10) == 1
    assert "cannot listen for gRPC" in e.output()
    e.log.close()


def test_rpc_socket_in_use(engine_factory):
    first = engine_factory()
    e = Engine(["-r", first.sock])
    e.args = ["--grpc-ip", "127.0.0.1", "--grpc-port", str(e.port), "-r", first.sock]
    e.start(wait=False)
    assert e.proc.wait(timeout=10) == 1
    assert "already served by another process" in e.output()
    e.log.close()


def test_stale_rpc_socket_is_replaced(engine_factory, tmp_path):
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # the file stays, nobody listens
    e = engine_factory("-r", path)
    assert os.path.exists(path)
    e.stop()
    assert not os.path.exists(path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_cleanly(engine_factory, sig):
    e = engine_factory()
    e.proc.send_signal(sig)
    assert e.proc.wait(timeout=15) == 0
    out = e.output()
    assert "shutting down" in out and "exited (0)" in out
    assert not os.path.exists(e.sock)


def test_sigterm_with_calls_in_flight(engine_factory):
    e = engine_factory()
    results, stop = [], threading.Event()

    def hammer():
        ch = grpc.insecure_channel(e.endpoint)
        stub = host_pb2_grpc.HostRpcStub(ch)
        while not stop.is_set():
            try:
                stub.ListBlockDevices(host_pb2.ListBlockDevicesRequest(all=True), timeout=5)
                results.append("ok")
            except grpc.RpcError as ex:
                results.append(ex.code())
        ch.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    e.proc.send_signal(signal.SIGTERM)
    assert e.proc.wait(timeout=20) == 0
    stop.set()
    for t in threads:
        t.join()
    assert "ok" in results
    # Calls after shutdown fail as a client expects: the server is gone.
    assert set(results) <= {"ok", grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_daemon_uses_no_cpu(engine_factory):
    e = engine_factory("-l", "0,1")
    time.sleep(0.5)
    before = cpu_seconds(e.proc.pid)
    time.sleep(3)
    used = cpu_seconds(e.proc.pid) - before
    assert used < 0.15, f"idle daemon used {used:.2f} s of CPU in 3 s"


def test_busy_poll_mode_serves(engine_factory):
    e = engine_factory("--busy-poll")
    stub = host_pb2_grpc.HostRpcStub(grpc.insecure_channel(e.endpoint))
    assert stub.GetMayastorInfo(empty_pb2.Empty()).version
    before = cpu_seconds(e.proc.pid)
    time.sleep(1)
    assert cpu_seconds(e.proc.pid) - before > 0.5  # the reactor spins, as asked


def test_two_reactors(engine_factory):
    e = engine_factory("-m", "0x3")
    stub = host_pb2_grpc.HostRpcStub(grpc.insecure_channel(e.endpoint))
    assert stub.GetMayastorInfo(empty_pb2.Empty()).version
    threads = os.listdir(f"/proc/{e.proc.pid}/task")
    names = set()
    for t in threads:
        with open(f"/proc/{e.proc.pid}/task/{t}/comm") as f:
            names.add(f.read().strip())
    assert {"reactor_0", "reactor_1"} <= names
