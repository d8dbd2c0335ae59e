"""The project's NVMe/TCP initiator against a target nobody here wrote: Linux's nvmet-tcp
(Debian 12's 6.1 kernel in the QEMU guest, qemu_guest.KernelTarget), reached through a
forwarded loopback port by a real io-engine daemon creating nvmf:// devices. Identify
(the kernel's model, size, block size, namespace UUID), pattern writes read back through
every data path (in the capsule up to the kernel's 16 KiB, R2T/H2CData above, commands
split at our 1 MiB cap as the kernel states no MDTS), header and data digests, the load
generator with data verification, and the target disappearing mid-use (errors surface,
the daemon survives, FAULTED) and returning (reconnect, the data is still there). One
guest boot for the module."""
import base64
import json
import subprocess
import time
import uuid as uuidlib

import grpc
import pytest

import bdev_pb2
import bdev_pb2_grpc
import host_pb2
import host_pb2_grpc
from conftest import PERF
from google.protobuf import empty_pb2
from jsonrpc_client import JsonRpcClient, JsonRpcError
from qemu_guest import kernel_target

NQN = "nqn.2014-08.io.openebs.test:kernel-target"
SIZE_MB = 64
MiB = 1 << 20


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    with kernel_target(tmp_path_factory.mktemp("kernel-target"), NQN, size_mb=SIZE_MB) as t:
        yield t


class Initiator:
    def __init__(self, engine):
        self.e = engine
        self.ch = grpc.insecure_channel(engine.endpoint)
        self.bdev = bdev_pb2_grpc.BdevRpcStub(self.ch)
        self.host = host_pb2_grpc.HostRpcStub(self.ch)
        self.rpc = JsonRpcClient(engine.sock, timeout=60)

    def write(self, name, offset, data):
        return self.rpc("ioe_bdev_write", {"name": name, "offset": offset,
                                           "data": base64.b64encode(data).decode()})

    def read(self, name, offset, length):
        return base64.b64decode(self.rpc("ioe_bdev_read", {"name": name, "offset": offset,
                                                           "length": length})["data"])

    def close(self):
        self.rpc.close()
        self.ch.close()


@pytest.fixture
def ini(engine_factory):
    # The guest runs under TCG: generous command timeouts, quick reconnects.
    i = Initiator(engine_factory(env={"NVME_TIMEOUT": "20s", "NVME_TIMEOUT_ADMIN": "20s",
                                      "NVMF_FABRICS_CONNECT_TIMEOUT": "10s",
                                      "NVME_RECONNECT_DELAY": "300ms",
                                      "NVME_CTRLR_LOSS_TIMEOUT": "120s"}))
    yield i
    i.close()


def pattern(seed, n):
    return bytes((seed * 29 + i * 7 + (i >> 12)) & 0xFF for i in range(n))


def test_identify_and_data_paths(target, ini):
    uri = f"nvmf://127.0.0.1:{target.port}/{NQN}"
    d = ini.bdev.Create(bdev_pb2.CreateBdevRequest(uri=uri)).bdev
    assert d.name == f"127.0.0.1:{target.port}/{NQN}n1"
    assert d.num_blocks * d.blk_size == SIZE_MB * MiB and d.blk_size == 512
    assert d.uuid == target.namespaces[1]["uuid"]
    [info] = ini.rpc("bdev_get_bdevs", {"name": d.name})
    nv = info["driver_specific"]["nvme"]
    assert nv["model_number"] == "Linux" and nv["serial_number"] == target.serial
    assert nv["max_transfer_bytes"] == 1 * MiB  # MDTS 0: our own cap
    off = 0
    for i, n in enumerate((512, 4096, 16384, 16896, 65536, 1 * MiB, 2 * MiB + 4096)):
        data = pattern(i, n)
        assert ini.write(d.name, off, data) is True
        assert ini.read(d.name, off, n) == data, f"{n} bytes at {off}"
        off += n
    [c] = ini.host.ListNvmeControllers(empty_pb2.Empty()).controllers
    assert c.state == host_pb2.RUNNING and c.size == SIZE_MB * MiB
    ini.bdev.Destroy(bdev_pb2.DestroyBdevRequest(uri=uri))
    assert not ini.host.ListNvmeControllers(empty_pb2.Empty()).controllers


def test_digests(target, ini):
    uri = f"nvmf+tcp://127.0.0.1:{target.port}/{NQN}?hdgst=true&ddgst=true"
    d = ini.bdev.Create(bdev_pb2.CreateBdevRequest(uri=uri)).bdev
    [info] = ini.rpc("bdev_get_bdevs", {"name": d.name})
    assert info["driver_specific"]["nvme"]["header_digest"]
    assert info["driver_specific"]["nvme"]["data_digest"]
    for i, n in enumerate((4096, 16384, 131072, 1 * MiB)):
        data = pattern(40 + i, n)
        assert ini.write(d.name, 8 * MiB + i * 2 * MiB, data) is True
        assert ini.read(d.name, 8 * MiB + i * 2 * MiB, n) == data
    ini.bdev.Destroy(bdev_pb2.DestroyBdevRequest(uri=uri))


def test_load_generator_verifies(target):
    trid = f"trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:{target.port} subnqn:{NQN}"
    r = subprocess.run([PERF, "-r", trid, "-t", "2", "-V", "-q", "8", "-o", "16384", "-D"],
                       capture_output=True, text=True, timeout=120,
                       env={"NVME_TIMEOUT": "20s", "NVMF_FABRICS_CONNECT_TIMEOUT": "10s"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["workload"] == "verify" and out["errors"] == 0 and out["iops"] > 0


def test_target_disappears_mid_io_and_returns(target, ini):
    uri = f"nvmf://127.0.0.1:{target.port}/{NQN}"
    d = ini.bdev.Create(bdev_pb2.CreateBdevRequest(uri=uri)).bdev
    ctrlr = d.name[:-2]
    data = pattern(7, 256 * 1024)
    assert ini.write(d.name, 32 * MiB, data) is True
    target.down()
    # I/O fails with an error; the daemon stays up and says the controller is down.
    with pytest.raises(JsonRpcError):
        ini.read(d.name, 32 * MiB, len(data))
    deadline = time.time() + 30
    while True:
        [c] = ini.host.ListNvmeControllers(empty_pb2.Empty()).controllers
        if c.state == host_pb2.FAULTED:
            break
        assert time.time() < deadline, "the controller never went FAULTED"
        time.sleep(0.1)
    assert ini.e.proc.poll() is None
    target.up()
    deadline = time.time() + 60
    while True:
        try:
            got = ini.read(d.name, 32 * MiB, len(data))
            break
        except JsonRpcError:
            assert time.time() < deadline, "no reconnect after the target came back"
            time.sleep(0.2)
    assert got == data  # the kernel kept the namespace, we found it again
    [c] = ini.host.ListNvmeControllers(empty_pb2.Empty()).controllers
    assert c.state == host_pb2.RUNNING and c.name == ctrlr
    assert "reconnected" in ini.e.output()
    ini.bdev.Destroy(bdev_pb2.DestroyBdevRequest(uri=uri))
