"""The NVMe/TCP initiator (src/nvme/, docs/nvme-initiator.md) between two real daemons on
loopback: engine A shares a device, engine B creates nvmf:// (nvmf+tcp://, nvmf+rdma+tcp://)
devices of it. Covers: device identity and geometry from Identify, data written through B
found on A and read back (in-capsule, R2T/H2CData, C2HData, commands split at MDTS),
header and data digests, HostRpc ListNvmeControllers / StatNvmeController and the v0
twins, the host NQN (env HOSTNQN, node name, URI hostnqn) against allowed hosts, bad
URIs, refused connections, unknown subsystems, a target that disappears (I/O errors,
FAULTED, reconnect when it returns; giving up after NVME_CTRLR_LOSS_TIMEOUT), a target that
stops answering (NVME_TIMEOUT), reservations and admin/I/O passthrough (JSON-RPC
bdev_nvme_send_cmd, ioe_nvme_resv), SPDK's bdev_nvme_* methods, clean destroy."""
import base64
import os
import signal
import struct
import time
import uuid as uuidlib

import grpc
import pytest

import bdev_pb2
import bdev_pb2_grpc
import common_pb2
import host_pb2
import host_pb2_grpc
import mayastor_pb2
import mayastor_pb2_grpc
from conftest import free_port
from google.protobuf import empty_pb2
from jsonrpc_client import JsonRpcClient, JsonRpcError
import nvme_tcp as nt

MiB = 1 << 20
NQN = "nqn.2019-05.io.openebs:m0"


class Node:
    def __init__(self, engine):
        self.e = engine
        self.ch = grpc.insecure_channel(engine.endpoint)
        self.bdev = bdev_pb2_grpc.BdevRpcStub(self.ch)
        self.host = host_pb2_grpc.HostRpcStub(self.ch)
        self.v0 = mayastor_pb2_grpc.MayastorStub(self.ch)
        self.rpc = JsonRpcClient(engine.sock)

    def create(self, uri):
        return self.bdev.Create(bdev_pb2.CreateBdevRequest(uri=uri)).bdev

    def destroy(self, uri):
        self.bdev.Destroy(bdev_pb2.DestroyBdevRequest(uri=uri))

    def write(self, name, offset, data):
        return self.rpc("ioe_bdev_write", {"name": name, "offset": offset,
                                           "data": base64.b64encode(data).decode()})

    def read(self, name, offset, length):
        r = self.rpc("ioe_bdev_read", {"name": name, "offset": offset, "length": length})
        return base64.b64decode(r["data"])

    def ctrlrs(self):
        return {c.name: c for c in self.host.ListNvmeControllers(empty_pb2.Empty()).controllers}

    def close(self):
        self.rpc.close()
        self.ch.close()


def pattern(seed, n):
    return bytes((seed * 7 + i * 131 + (i >> 9)) & 0xFF for i in range(n))


def share(a, name="m0", size_mb=16, uuid=None, hosts=()):
    uri = f"malloc:///{name}?size_mb={size_mb}" + (f"&uuid={uuid}" if uuid else "")
    b = a.create(uri)
    r = a.bdev.Share(bdev_pb2.BdevShareRequest(name=name, protocol=common_pb2.NVMF,
                                               allowed_hosts=list(hosts)))
    return b, r.bdev.share_uri


def grpc_error(fn, *a):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a)
    return e.value


def wait_for(cond, timeout=15, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def pair(engine_factory):
    a = Node(engine_factory())
    b = Node(engine_factory())
    yield a, b
    a.close()
    b.close()


def test_attach_io_and_listing(pair):
    a, b = pair
    m0, uri = share(a)
    assert uri.startswith("nvmf://127.0.0.1:")
    d = b.create(uri)
    port = a.e.nvmf_port
    ctrlr = f"127.0.0.1:{port}/{NQN}"
    assert d.name == ctrlr + "n1"
    assert (d.uuid, d.num_blocks, d.blk_size) == (m0.uuid, m0.num_blocks, m0.blk_size)
    assert d.product_name == "NVMe disk" and d.uri.startswith(uri.split("?")[0])
    # Sizes that go in the capsule, through R2T/H2CData, and over MDTS (128 KiB: split).
    off = 0
    for i, n in enumerate((512, 4096, 8192, 64 * 1024, 128 * 1024, 1 * MiB)):
        data = pattern(i, n)
        assert b.write(d.name, off, data) is True
        assert b.read(d.name, off, n) == data
        assert a.read("m0", off, n) == data  # it is on A's device
        off += n + 4096
    # HostRpc (v1 and v0) report the controller and its counters.
    c = b.ctrlrs()[ctrlr]
    assert c.state == host_pb2.RUNNING and c.size == 16 * MiB and c.blk_size == 512
    st = b.host.StatNvmeController(host_pb2.StatNvmeControllerRequest(name=ctrlr)).stats
    assert st.num_write_ops >= 6 and st.bytes_written >= 1 * MiB + 200 * 1024
    assert st.num_read_ops >= 6 and st.bytes_read == st.bytes_written
    v0 = {x.name: x for x in b.v0.ListNvmeControllers(mayastor_pb2.Null()).controllers}
    assert v0[ctrlr].state == mayastor_pb2.RUNNING and v0[ctrlr].size == 16 * MiB
    v0s = {x.name: x for x in b.v0.StatNvmeControllers(mayastor_pb2.Null()).controllers}
    assert v0s[ctrlr].stats.bytes_written == st.bytes_written
    e = grpc_error(b.host.StatNvmeController, host_pb2.StatNvmeControllerRequest(name="nope"))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    # SPDK's view of it.
    [g] = b.rpc("bdev_nvme_get_controllers", {})
    assert g["name"] == ctrlr and g["ctrlrs"][0]["state"] == "enabled"
    assert g["ctrlrs"][0]["trid"] == {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1",
                                      "trsvcid": str(port), "subnqn": NQN}
    [info] = b.rpc("bdev_get_bdevs", {"name": d.name})
    nv = info["driver_specific"]["nvme"]
    assert "model_number" in nv, info
    assert nv["model_number"] == "Mayastor NVMe controller" and nv["serial_number"].startswith("DCS")
    assert nv["max_transfer_bytes"] == 128 * 1024 and not nv["header_digest"]
    # The same device twice is refused; destroy detaches.
    assert grpc_error(b.create, uri).code() == grpc.StatusCode.ALREADY_EXISTS
    b.destroy(uri)
    assert b.ctrlrs() == {} and b.rpc("bdev_nvme_get_controllers", {}) == []
    b.destroy  # noqa: B018 (the target side is untouched)
    assert a.read("m0", 0, 512) == pattern(0, 512)


def test_schemes_digests_and_spdk_methods(pair):
    a, b = pair
    m0, uri = share(a)
    rest = uri.split("://", 1)[1].split("?")[0]
    for scheme in ("nvmf+tcp", "nvmf+rdma+tcp"):
        d = b.create(f"{scheme}://{rest}?hdgst=true&ddgst=yes")
        [info] = b.rpc("bdev_get_bdevs", {"name": d.name})
        nv = info["driver_specific"]["nvme"]
        assert nv["header_digest"] and nv["data_digest"]
        data = pattern(3, 256 * 1024)
        assert b.write(d.name, 8192, data) is True
        assert b.read(d.name, 8192, len(data)) == data
        b.destroy(f"{scheme}://{rest}")
    # bdev_nvme_attach_controller / detach: the device is named after the address.
    names = b.rpc("bdev_nvme_attach_controller", {
        "name": "Nvme0", "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
        "trsvcid": str(a.e.nvmf_port), "subnqn": NQN, "hdgst": True})
    assert names == [f"127.0.0.1:{a.e.nvmf_port}/{NQN}n1"]
    assert b.read(names[0], 8192, 512) == pattern(3, 512)
    assert b.rpc("bdev_nvme_detach_controller", {"name": names[0][:-2]}) is True
    with pytest.raises(JsonRpcError) as e:
        b.rpc("bdev_nvme_detach_controller", {"name": names[0][:-2]})
    assert e.value.code == -19
    with pytest.raises(JsonRpcError):
        b.rpc("bdev_nvme_attach_controller", {"name": "x", "trtype": "rdma", "traddr": "127.0.0.1",
                                              "subnqn": NQN})


def test_bad_uris_and_refusals(pair):
    a, b = pair
    share(a)
    port = a.e.nvmf_port
    for uri in ("nvmf:///" + NQN, f"nvmf://127.0.0.1:{port}/", f"nvmf://127.0.0.1:{port}",
                f"nvmf://127.0.0.1:70000/{NQN}", f"nvmf://127.0.0.1:{port}/{NQN}?hdgst=maybe",
                f"nvmf://127.0.0.1:{port}/{NQN}?uuid=not-a-uuid",
                f"nvmf://127.0.0.1:{port}/{NQN}?hostnqn=",
                f"nvmf://127.0.0.1:{port}/{'x' * 224}"):
        e = grpc_error(b.create, uri)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (uri, e.details())
    # Nothing listening: refused at once, with the address in the message.
    dead = free_port()
    t0 = time.time()
    e = grpc_error(b.create, f"nvmf://127.0.0.1:{dead}/{NQN}")
    assert time.time() - t0 < 5 and f"127.0.0.1:{dead}" in e.details() and "refused" in e.details()
    # An unknown subsystem: Connect answers Invalid Parameters (0x182).
    e = grpc_error(b.create, f"nvmf://127.0.0.1:{port}/nqn.2019-05.io.openebs:nope")
    assert "0x182" in e.details(), e.details()
    # The default port is 8420 (the name says so; nothing listens there in tests).
    e = grpc_error(b.create, f"nvmf://127.0.0.1/{NQN}")
    assert "127.0.0.1:8420" in e.details()
    # Unknown parameters are ignored, as upstream.
    d = b.create(f"nvmf://127.0.0.1:{port}/{NQN}?reftag=on&guard=off&whatever=1")
    assert d.num_blocks == 16 * MiB // 512
    assert b.ctrlrs() and a.e.proc.poll() is None and b.e.proc.poll() is None


def test_host_nqn(engine_factory):
    a = Node(engine_factory())
    b = Node(engine_factory("-N", "node-b"))
    c = Node(engine_factory(env={"HOSTNQN": "nqn.2014-08.org.example:host-c"}))
    try:
        share(a, hosts=["nqn.2019-05.io.openebs:node-name:node-b",
                        "nqn.2014-08.org.example:host-c"])
        uri = f"nvmf://127.0.0.1:{a.e.nvmf_port}/{NQN}"
        assert b.create(uri).num_blocks and c.create(uri).num_blocks
        # A host NQN in the URI wins; one not allowed is refused (0x184).
        b.destroy(uri)
        e = grpc_error(b.create, uri + "?hostnqn=nqn.2014-08.org.example:stranger")
        assert "0x184" in e.details(), e.details()
        [g] = c.rpc("bdev_nvme_get_controllers", {})
        assert g["ctrlrs"][0]["host"]["nqn"] == "nqn.2014-08.org.example:host-c"
    finally:
        for n in (a, b, c):
            n.close()


def test_target_disappears_and_returns(engine_factory):
    ports = (free_port(), free_port())
    a = Node(engine_factory(nvmf_ports=ports))
    b = Node(engine_factory(env={"NVME_RECONNECT_DELAY": "200ms", "NVME_CTRLR_LOSS_TIMEOUT": "60s"}))
    try:
        m0, uri = share(a)
        d = b.create(uri)
        ctrlr = d.name[:-2]
        assert b.write(d.name, 0, pattern(1, 65536)) is True
        a.e.kill()  # gone mid-use: no goodbye
        with pytest.raises(JsonRpcError):
            b.read(d.name, 0, 65536)
        wait_for(lambda: b.ctrlrs()[ctrlr].state == host_pb2.FAULTED, what="FAULTED")
        with pytest.raises(JsonRpcError) as e:
            b.write(d.name, 0, pattern(2, 4096))
        assert b.e.proc.poll() is None
        # The target returns on the same port with the same device: B reconnects.
        a2 = Node(engine_factory(nvmf_ports=ports))
        share(a2, uuid=m0.uuid)
        wait_for(lambda: b.ctrlrs()[ctrlr].state == host_pb2.RUNNING, what="reconnect")
        data = pattern(4, 128 * 1024)
        wait_for(lambda: _try_write(b, d.name, data), what="I/O after reconnect")
        assert b.read(d.name, 0, len(data)) == data and a2.read("m0", 0, len(data)) == data
        assert "reconnected" in b.e.output()
        a2.close()
    finally:
        a.close()
        b.close()


def _try_write(node, name, data):
    try:
        return node.write(name, 0, data) is True
    except JsonRpcError:
        return False


def test_gives_up_after_the_loss_timeout(engine_factory):
    a = Node(engine_factory())
    b = Node(engine_factory(env={"NVME_RECONNECT_DELAY": "100ms", "NVME_CTRLR_LOSS_TIMEOUT": "1s"}))
    try:
        _, uri = share(a)
        d = b.create(uri)
        a.e.kill()
        wait_for(lambda: "giving up" in b.e.output(), timeout=10, what="giving up")
        assert b.ctrlrs()[d.name[:-2]].state == host_pb2.FAULTED
        with pytest.raises(JsonRpcError):
            b.read(d.name, 0, 512)
        b.destroy(uri)
        assert b.ctrlrs() == {}
    finally:
        a.close()
        b.close()


def test_unanswered_io_times_out(engine_factory):
    a = Node(engine_factory())
    b = Node(engine_factory(env={"NVME_TIMEOUT": "300ms", "NVME_KATO": "30s",
                                 "NVME_RECONNECT_DELAY": "200ms"}))
    try:
        _, uri = share(a)
        d = b.create(uri)
        assert b.write(d.name, 0, pattern(5, 4096)) is True
        a.e.proc.send_signal(signal.SIGSTOP)  # alive, but answers nothing
        try:
            t0 = time.time()
            with pytest.raises(JsonRpcError):
                b.read(d.name, 0, 4096)
            assert time.time() - t0 < 5
            assert "got no answer within 300 ms" in b.e.output()
        finally:
            a.e.proc.send_signal(signal.SIGCONT)
        # Back: the controller is reset and reconnected.
        wait_for(lambda: _try_read(b, d.name) == pattern(5, 4096), what="I/O after the stall")
    finally:
        a.close()
        b.close()


def _try_read(node, name):
    try:
        return node.read(name, 0, 4096)
    except JsonRpcError:
        return None


def test_reservations_and_passthrough(pair):
    a, b = pair
    _, uri = share(a)
    d = b.create(uri)
    ctrlr = d.name[:-2]
    # Admin passthrough: Identify Controller.
    sqe = bytearray(64)
    sqe[0] = 0x06
    struct.pack_into("<I", sqe, 40, 1)
    r = b.rpc("bdev_nvme_send_cmd", {"name": ctrlr, "cmd_type": "admin", "data_direction": "c2h",
                                     "cmdbuf": base64.b64encode(bytes(sqe)).decode(),
                                     "data_len": 4096})
    ident = base64.b64decode(r["data"])
    assert ident[24:48].decode().strip() == "Mayastor NVMe controller"
    assert base64.b64decode(r["cpl"])[14:16] == b"\0\0"
    # Reservations through the API the nexus uses: register, acquire write exclusive.
    res = b.rpc("ioe_nvme_resv", {"name": d.name, "action": "register", "nrkey": 0xABC})
    assert res["status"] == 0
    res = b.rpc("ioe_nvme_resv", {"name": d.name, "action": "acquire", "crkey": 0xABC, "rtype": 1})
    assert res["status"] == 0
    rep = base64.b64decode(b.rpc("ioe_nvme_resv", {"name": d.name, "action": "report"})["data"])
    gen, rtype, regctl = struct.unpack_from("<IBH", rep, 0)
    assert (rtype, regctl) == (1, 1) and struct.unpack_from("<Q", rep, 64 + 8)[0] == 0xABC
    assert rep[64 + 2] & 1  # the holder
    # Another host (the pure-Python one) is fenced off; B writes.
    adm, (io,) = nt.connect_ctrlr(a.e.nvmf_port, NQN)
    assert io.write(0, b"\x01" * 512).status == 0x083
    assert b.write(d.name, 0, b"\x02" * 512) is True
    # A wrong key is a conflict, seen as such through the API.
    res = b.rpc("ioe_nvme_resv", {"name": d.name, "action": "release", "crkey": 0x1, "rtype": 1})
    assert res["status"] == 0x083
    res = b.rpc("ioe_nvme_resv", {"name": d.name, "action": "release", "crkey": 0xABC, "rtype": 1})
    assert res["status"] == 0
    assert io.write(0, b"\x01" * 512).status == 0
    # I/O passthrough: a Read of one block.
    sqe = bytearray(64)
    sqe[0] = 0x02
    struct.pack_into("<I", sqe, 4, 1)
    r = b.rpc("bdev_nvme_send_cmd", {"name": ctrlr, "cmd_type": "io", "data_direction": "c2h",
                                     "cmdbuf": base64.b64encode(bytes(sqe)).decode(),
                                     "data_len": 512})
    assert base64.b64decode(r["data"]) == b"\x01" * 512
    for q in (io, adm):
        q.close()
    with pytest.raises(JsonRpcError) as e:
        b.rpc("ioe_nvme_resv", {"name": d.name, "action": "steal"})
    assert e.value.code == -32602


def test_cli(pair):
    import json
    import subprocess
    from conftest import CLIENT

    def cli(*args):
        r = subprocess.run([CLIENT, "-b", b.e.endpoint] + list(args), capture_output=True,
                           text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    a, b = pair
    _, uri = share(a)
    rc, out, err = cli("bdev", "create", uri)
    assert rc == 0, err
    ctrlr = f"127.0.0.1:{a.e.nvmf_port}/{NQN}"
    rc, out, _ = cli("host", "nvme-controllers")
    assert rc == 0 and ctrlr in out and "RUNNING" in out and "16.0 MiB" in out
    assert b.write(ctrlr + "n1", 0, pattern(9, 8192)) is True
    rc, out, _ = cli("host", "nvme-controller-stats", ctrlr)
    assert rc == 0 and out.splitlines()[0].split() == ["READS", "WRITES", "UNMAPS", "READ",
                                                       "WRITTEN", "UNMAPPED"]
    assert out.splitlines()[1].split()[1] == "1"
    rc, out, _ = cli("-o", "json", "host", "nvme-controller-stats", ctrlr)
    assert int(json.loads(out)["stats"]["bytes_written"]) == 8192
    rc, _, err = cli("host", "nvme-controller-stats", "nope")
    assert rc == 1 and "NOT_FOUND" in err
    rc, _, err = cli("bdev", "destroy", uri)
    assert rc == 0, err
    rc, out, _ = cli("host", "nvme-controllers")
    assert "No NVMe controllers found" in out
