"""The custom admin command 0xC1 "create snapshot" (behaviour §6, src/nvmf/snapshot_cmd.c),
as an upstream nexus sends it to its replicas' controllers, from the pure-Python host:
the payload is bincode v1 of V1{SnapshotParams}; the replica is snapshotted with the
given name, uuid, entity and transaction ids (seen through SnapshotRpc.ListSnapshot);
cdw10/11 give the time when create_time is absent; failures are generic status 06h
with the errno in dword 0; malformed payloads are Invalid Field; a device that is not a
replica answers Invalid Opcode."""
import struct
import uuid as uuidlib

import grpc
import pytest

import bdev_pb2
import common_pb2
import pool_pb2
import replica_pb2
import snapshot_pb2
import snapshot_pb2_grpc
import nvme_tcp as nt
from lvs_helpers import MiB, LvsStubs, make_image

OPC = 0xC1
SC_INVALID_OPCODE, SC_INVALID_FIELD, SC_INTERNAL = 0x001, 0x002, 0x006
EEXIST = 17


def opt(s):
    if s is None:
        return b"\0"
    b = s.encode()
    return b"\1" + struct.pack("<Q", len(b)) + b


def params(entity_id=None, parent_id=None, txn_id=None, name=None, uuid=None,
           create_time=None, discarded=False):
    return (struct.pack("<I", 0) + opt(entity_id) + opt(parent_id) + opt(txn_id) + opt(name)
            + opt(uuid) + opt(create_time) + bytes([1 if discarded else 0]))


def snap_cmd(adm, payload, when=0):
    c, _ = adm.command(OPC, 0, {10: when & 0xFFFFFFFF, 11: when >> 32}, write=payload)
    return c


@pytest.fixture
def node(engine, tmp_path):
    s = LvsStubs(engine)
    s.snap = snapshot_pb2_grpc.SnapshotRpcStub(s.ch)
    s.pool.CreatePool(pool_pb2.CreatePoolRequest(name="p0", disks=[
        f"aio://{make_image(tmp_path / 'pool.img', 64 * MiB)}"]))
    s.r = s.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
        name="r0", uuid=str(uuidlib.uuid4()), pooluuid="p0", size=8 * MiB,
        share=common_pb2.NVMF))
    s.adm, _ = nt.connect_ctrlr(engine.nvmf_port, "nqn.2019-05.io.openebs:r0", io_queues=0)
    yield s
    s.adm.close()
    s.close()


def snapshots(s):
    return {x.snapshot_uuid: x for x in s.snap.ListSnapshot(
        snapshot_pb2.ListSnapshotsRequest()).snapshots}


def test_snapshot_through_the_controller(node):
    s = node
    su = str(uuidlib.uuid4())
    c = snap_cmd(s.adm, params(entity_id="vol-1", parent_id=s.r.uuid, txn_id="tx-7",
                               name="r0-snap1", uuid=su,
                               create_time="2024-10-23 16:46:38.123456789 UTC"))
    assert c.status == 0, str(c)
    snap = snapshots(s)[su]
    assert (snap.snapshot_name, snap.entity_id, snap.txn_id, snap.source_uuid) == \
        ("r0-snap1", "vol-1", "tx-7", s.r.uuid)
    assert snap.valid_snapshot
    # Without create_time the command's time (cdw10/11, Unix seconds) is used.
    su2 = str(uuidlib.uuid4())
    c = snap_cmd(s.adm, params(entity_id="vol-1", txn_id="tx-8", name="r0-snap2", uuid=su2),
                 when=1700000000)
    assert c.status == 0, str(c)
    assert snapshots(s)[su2].timestamp.seconds == 1700000000
    # The same uuid again: generic Internal with EEXIST in dword 0.
    c = snap_cmd(s.adm, params(name="r0-snap3", uuid=su))
    assert (c.status, c.dw0) == (SC_INTERNAL, EEXIST), str(c)
    # The replica keeps working.
    r = {x.uuid: x for x in s.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas}
    assert r[s.r.uuid].share == common_pb2.NVMF


@pytest.mark.parametrize("payload", [
    b"",
    struct.pack("<I", 1) + params(name="x", uuid=str(uuidlib.uuid4()))[4:],  # another variant
    params(name="x", uuid=str(uuidlib.uuid4()))[:-1],                       # truncated
    params(uuid=str(uuidlib.uuid4())),                                      # no name
    params(name="x"),                                                       # no uuid
    params(name="x", uuid=str(uuidlib.uuid4()), discarded=True),
    struct.pack("<I", 0) + b"\2",                                           # bad tag
    struct.pack("<I", 0) + b"\1" + struct.pack("<Q", 1 << 40) + b"abc",     # length too big
])
def test_malformed_payloads(node, payload):
    c = snap_cmd(node.adm, payload) if payload else node.adm.command(OPC, 0)[0]
    assert c.status == SC_INVALID_FIELD and c.dnr, str(c)
    assert snapshots(node) == {}


def test_not_a_replica(engine):
    s = LvsStubs(engine)
    s.bdev.Create(bdev_pb2.CreateBdevRequest(uri="malloc:///m0?size_mb=8"))
    s.bdev.Share(bdev_pb2.BdevShareRequest(name="m0", protocol=common_pb2.NVMF))
    adm, _ = nt.connect_ctrlr(engine.nvmf_port, "nqn.2019-05.io.openebs:m0", io_queues=0)
    c = snap_cmd(adm, params(name="x", uuid=str(uuidlib.uuid4())))
    assert c.status == SC_INVALID_OPCODE and c.dnr, str(c)
    adm.close()
    s.close()
