"""Reservations that persist through power loss (NVMe PTPL) on shared replicas, driven by
the pure-Python NVMe/TCP host (nvme_tcp.py): with --ptpl-dir a replica's namespace offers
PTPL (RESCAP bit 0); a Reservation Register with CPTPL=11b, or Set Features Reservation
Persistence, makes the state persist in <ptpl-dir>/pool/<pool uuid>/replica/<uuid>.json
(SPDK's format), written before the command completes; after kill -9 and a restart the
re-shared replica holds the same registrants and reservation; switching persistence off
empties the file; a write that fails fails the command and changes nothing; a file that
is not this replica's refuses the share with a clear error; without --ptpl-dir, PTPL is
refused. Destroying the replica removes its file."""
import json
import os
import struct
import uuid as uuidlib

import grpc
import pytest

import common_pb2
import pool_pb2
import replica_pb2
import nvme_tcp as nt
from lvs_helpers import MiB, LvsStubs, grpc_error, make_image

HOST_A = ("nqn.2014-08.org.nvmexpress:uuid:0a0a0a0a-0000-4000-8000-00000000000a",
          bytes.fromhex("0a0a0a0a00004000800000000000000a"))
HOST_B = ("nqn.2014-08.org.nvmexpress:uuid:0b0b0b0b-0000-4000-8000-00000000000b",
          bytes.fromhex("0b0b0b0b00004000800000000000000b"))
KEY_A = 0xFEDCBA9876543210  # beyond INT64_MAX: written as a bare integer, as SPDK does
KEY_B = 0x0B
WRITE_EXCLUSIVE = 1
SC_INVALID_FIELD, SC_INTERNAL, SC_RESV_CONFLICT = 0x002, 0x006, 0x083
FEAT_RESV_PERSIST = 0x83
ADM_SET_FEATURES, ADM_GET_FEATURES = 0x09, 0x0A


class Node:
    """One daemon with a pool on an image file and replica r0 shared over NVMe/TCP."""

    def __init__(self, factory, img, ptpl_dir, create=True):
        args = ("--ptpl-dir", str(ptpl_dir)) if ptpl_dir else ()
        self.engine = factory(*args)
        self.s = LvsStubs(self.engine)
        self.pool = self.s.pool.CreatePool(pool_pb2.CreatePoolRequest(
            name="p0", disks=[f"aio://{img}"]))
        if create:
            self.r = self.s.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
                name="r0", uuid=str(uuidlib.uuid4()), pooluuid="p0", size=8 * MiB,
                share=common_pb2.NVMF))
        else:
            [self.r] = self.s.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas
        self.nqn = "nqn.2019-05.io.openebs:r0"
        self.hosts = []

    def host(self, who):
        """An enabled controller of host `who` with one I/O queue."""
        nqn, hostid = who
        adm = nt.Queue("127.0.0.1", self.engine.nvmf_port)
        adm.icreq()
        c = adm.connect(self.nqn, nqn, hostid=hostid)
        assert c.status == 0, str(c)
        adm.enable()
        io = nt.Queue("127.0.0.1", self.engine.nvmf_port)
        io.icreq()
        c = io.connect(self.nqn, nqn, qid=1, cntlid=adm.cntlid, hostid=hostid)
        assert c.status == 0, str(c)
        self.hosts += [io, adm]
        return adm, io

    def close(self):
        for q in self.hosts:
            q.close()
        self.s.close()


def register(io, key, cptpl=0, rrega=0, crkey=0):
    c, _ = io.command(nt.IO_RESV_REGISTER, 1, {10: rrega | cptpl << 30},
                      write=struct.pack("<QQ", crkey, key))
    return c


def acquire(io, key, rtype):
    c, _ = io.command(nt.IO_RESV_ACQUIRE, 1, {10: rtype << 8}, write=struct.pack("<QQ", key, 0))
    return c


def report(io):
    """(generation, type, ptpls, [(hostid, rkey, holds)])."""
    c, d = io.resv_report()
    assert c.status == 0, str(c)
    gen, rtype, regctl = struct.unpack_from("<IBH", d, 0)
    regs = []
    for i in range(regctl):
        e = d[64 + 64 * i:128 + 64 * i]
        regs.append((e[16:32], struct.unpack_from("<Q", e, 8)[0], bool(e[2] & 1)))
    return gen, rtype, d[9], sorted(regs)


def set_persist(adm, on):
    c, _ = adm.command(ADM_SET_FEATURES, 1, {10: FEAT_RESV_PERSIST, 11: 1 if on else 0})
    return c


def get_persist(adm):
    c, _ = adm.command(ADM_GET_FEATURES, 1, {10: FEAT_RESV_PERSIST})
    assert c.status == 0, str(c)
    return c.dw0


def rescap(adm):
    c, d = adm.identify(0, nsid=1)
    assert c.status == 0, str(c)
    return d[31]


def ptpl_file(ptpl_dir, node):
    return os.path.join(ptpl_dir, "pool", node.pool.uuid, "replica", f"{node.r.uuid}.json")


@pytest.fixture
def img(tmp_path):
    return make_image(tmp_path / "pool.img", 64 * MiB)


def test_reservation_survives_power_loss(engine_factory, img, tmp_path):
    ptpl = tmp_path / "ptpl"
    n = Node(engine_factory, img, ptpl)
    adm_a, io_a = n.host(HOST_A)
    assert rescap(adm_a) & 1  # PTPL offered
    assert get_persist(adm_a) == 0
    path = ptpl_file(ptpl, n)
    # Registering without CPTPL keeps the state in memory only: no file yet.
    assert register(io_a, KEY_A).status == 0
    assert not os.path.exists(path)
    # CPTPL=11b: persist through power loss; the file is written before the completion.
    assert register(io_a, KEY_A, cptpl=3, rrega=2, crkey=KEY_A).status == 0
    assert acquire(io_a, KEY_A, WRITE_EXCLUSIVE).status == 0
    with open(path) as f:
        saved = json.load(f)
    assert saved == {"ptpl": True, "rtype": WRITE_EXCLUSIVE, "crkey": KEY_A,
                     "bdev_uuid": n.r.uuid, "holder_uuid": str(uuidlib.UUID(bytes=HOST_A[1])),
                     "registrants": [{"rkey": KEY_A,
                                      "host_uuid": str(uuidlib.UUID(bytes=HOST_A[1]))}]}
    assert get_persist(adm_a) == 1
    adm_b, io_b = n.host(HOST_B)
    assert register(io_b, KEY_B).status == 0  # persisted too: PTPL is the namespace's
    assert io_b.write(8, b"\xBB" * 512).status == SC_RESV_CONFLICT
    assert io_a.write(8, b"\xAA" * 512).status == 0
    before = report(io_a)
    assert before[1:] == (WRITE_EXCLUSIVE, 1, sorted([(HOST_A[1], KEY_A, True),
                                                      (HOST_B[1], KEY_B, False)]))

    # Power loss: kill -9, start again on the same disk and PTPL directory.
    n.engine.kill()
    n.close()
    n = Node(engine_factory, img, ptpl, create=False)
    adm_b, io_b = n.host(HOST_B)
    assert rescap(adm_b) & 1 and get_persist(adm_b) == 1
    gen, rtype, ptpls, regs = report(io_b)
    assert (rtype, ptpls, regs) == before[1:]
    assert io_b.write(8, b"\xBB" * 512).status == SC_RESV_CONFLICT  # still fenced
    c, data = io_b.read(8, 1)
    assert c.status == 0 and data == b"\xAA" * 512  # reads are allowed under Write Exclusive
    adm_a, io_a = n.host(HOST_A)
    assert io_a.write(9, b"\xAA" * 512).status == 0  # the holder writes again

    # Persistence switched off: the file is emptied (as SPDK does); a restart forgets.
    assert set_persist(adm_a, False).status == 0
    assert os.path.getsize(path) == 0
    assert get_persist(adm_b) == 0
    n.engine.kill()
    n.close()
    n = Node(engine_factory, img, ptpl, create=False)
    adm_b, io_b = n.host(HOST_B)
    assert report(io_b)[1:] == (0, 0, [])
    assert io_b.write(8, b"\xBB" * 512).status == 0

    # Set Features turns it on again; destroying the replica removes the file.
    assert set_persist(adm_b, True).status == 0
    assert json.load(open(path))["ptpl"] is True
    n.s.replica.DestroyReplica(replica_pb2.DestroyReplicaRequest(uuid=n.r.uuid))
    assert not os.path.exists(path)
    n.close()


def test_failed_write_changes_nothing(engine_factory, img, tmp_path):
    ptpl = tmp_path / "ptpl"
    n = Node(engine_factory, img, ptpl)
    adm, io = n.host(HOST_A)
    # Something in the way of the file's directory: the write fails.
    os.makedirs(os.path.join(ptpl, "pool", n.pool.uuid))
    blocker = os.path.join(ptpl, "pool", n.pool.uuid, "replica")
    open(blocker, "w").close()
    c = register(io, KEY_A, cptpl=3)
    assert c.status == SC_INTERNAL, str(c)
    assert report(io)[1:] == (0, 0, [])  # not registered, persistence still off
    assert set_persist(adm, True).status == SC_INTERNAL
    assert get_persist(adm) == 0
    # Without persistence nothing is written, so the state changes.
    assert register(io, KEY_A).status == 0
    assert report(io)[3] == [(HOST_A[1], KEY_A, False)]
    # Out of the way, the same command works; commands queued behind writes keep order.
    os.unlink(blocker)
    assert register(io, KEY_A, cptpl=3, rrega=2, crkey=KEY_A).status == 0
    assert json.load(open(ptpl_file(ptpl, n)))["registrants"][0]["rkey"] == KEY_A
    assert n.engine.proc.poll() is None
    n.close()


def test_foreign_or_corrupt_file_refuses_the_share(engine_factory, img, tmp_path):
    ptpl = tmp_path / "ptpl"
    n = Node(engine_factory, img, ptpl)
    adm, io = n.host(HOST_A)
    assert register(io, KEY_A, cptpl=3).status == 0
    path = ptpl_file(ptpl, n)
    good = open(path).read()
    for q in n.hosts:
        q.close()
    n.hosts = []
    uuid = n.r.uuid
    n.s.replica.UnshareReplica(replica_pb2.UnshareReplicaRequest(uuid=uuid))
    for text in ("{not json", good.replace(uuid, str(uuidlib.uuid4())),
                 json.dumps({"ptpl": True, "rtype": 1, "crkey": 5, "bdev_uuid": uuid,
                             "holder_uuid": "", "registrants": []})):
        with open(path, "w") as f:
            f.write(text)
        e = grpc_error(n.s.replica.ShareReplica, replica_pb2.ShareReplicaRequest(
            uuid=uuid, share=common_pb2.NVMF))
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
        assert path in e.details(), e.details()
        [r] = n.s.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas
        assert r.share == common_pb2.NONE
    # Restored, the share works and holds the registration.
    with open(path, "w") as f:
        f.write(good)
    n.s.replica.ShareReplica(replica_pb2.ShareReplicaRequest(uuid=uuid, share=common_pb2.NVMF))
    adm, io = n.host(HOST_B)
    assert report(io)[3] == [(HOST_A[1], KEY_A, False)]
    # At import, a bad file leaves the replica unshared with an error in the log.
    for q in n.hosts:
        q.close()
    n.hosts = []
    n.s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    with open(path, "w") as f:
        f.write("[]")
    n.s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[f"aio://{img}"]))
    [r] = n.s.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas
    assert r.share == common_pb2.NONE
    assert "cannot share it again" in n.engine.output()
    n.close()


def test_without_ptpl_dir_persistence_is_refused(engine_factory, img):
    n = Node(engine_factory, img, None)
    adm, io = n.host(HOST_A)
    assert not rescap(adm) & 1
    c = register(io, KEY_A, cptpl=3)
    assert c.status == SC_INVALID_FIELD and c.dnr, str(c)
    assert report(io)[1:] == (0, 0, [])
    c = set_persist(adm, True)
    assert c.status == SC_INVALID_FIELD, str(c)
    # CPTPL=10b (clear on power on) is what it has anyway.
    assert register(io, KEY_A, cptpl=2).status == 0
    assert report(io)[3] == [(HOST_A[1], KEY_A, False)]
    n.close()
