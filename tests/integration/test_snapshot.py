"""Snapshots and clones through the real daemon: gRPC SnapshotRpc (v1), the SPDK-named
JSON-RPC methods bdev_lvol_snapshot / bdev_lvol_clone, the diagnostics
ioe_lvol_get_xattrs and ioe_bdev_write/read, and io-engine-client `snapshot`.

Covers behaviour §7 (xattrs and their encodings, docs/on-disk-format.md §10; required
parameters; ALREADY_EXISTS / NOT_FOUND / ABORTED; list filters; discarded snapshots
deleted with their last clone; a snapshot whose only dependant is its replica is deleted by
merging it into the replica), copy-on-write (the replica keeps changing while the
snapshot, read through a clone, does not), §4 (DestroyReplica of the last clone of a
discarded snapshot deletes it; snapshots are not replicas), replica space usage with
snapshots, and that everything survives pool export and import."""
import base64
import json
import re
import subprocess
import uuid as uuidlib

import grpc
import pytest
from google.protobuf import wrappers_pb2

import pool_pb2
import pool_pb2_grpc
import replica_pb2
import replica_pb2_grpc
import snapshot_pb2
import snapshot_pb2_grpc
from conftest import CLIENT
from jsonrpc_client import JsonRpcClient
from lvs_helpers import grpc_error

MiB = 1 << 20
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS
ABORTED = grpc.StatusCode.ABORTED
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED
TIME_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} UTC$")


def uid():
    return str(uuidlib.uuid4())


def pattern(seed, n):
    return bytes((seed * 131 + i * 13) & 0xFF for i in range(n))


class Stubs:
    def __init__(self, engine, tmp_path):
        self.ch = grpc.insecure_channel(engine.endpoint)
        self.pool = pool_pb2_grpc.PoolRpcStub(self.ch)
        self.replica = replica_pb2_grpc.ReplicaRpcStub(self.ch)
        self.snap = snapshot_pb2_grpc.SnapshotRpcStub(self.ch)
        self.rpc = JsonRpcClient(engine.sock)
        self.img = str(tmp_path / "pool.img")
        with open(self.img, "wb") as f:
            f.truncate(256 * MiB)
        self.disk = f"aio://{self.img}"
        self.p = self.pool.CreatePool(pool_pb2.CreatePoolRequest(name="p0", disks=[self.disk]))

    def close(self):
        self.rpc.close()
        self.ch.close()

    def create(self, name, size=16 * MiB, pool="p0", **kw):
        kw.setdefault("uuid", uid())
        return self.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
            name=name, pooluuid=pool, size=size, **kw))

    def destroy(self, uuid, **kw):
        return self.replica.DestroyReplica(replica_pb2.DestroyReplicaRequest(uuid=uuid, **kw))

    def replicas(self, **kw):
        for k in ("name", "uuid"):
            if k in kw:
                kw[k] = wrappers_pb2.StringValue(value=kw[k])
        return list(self.replica.ListReplicas(replica_pb2.ListReplicaOptions(**kw)).replicas)

    def snapshot(self, replica_uuid, name, snapshot_uuid=None, entity_id="vol-1", txn_id="tx-1"):
        return self.snap.CreateReplicaSnapshot(snapshot_pb2.CreateReplicaSnapshotRequest(
            replica_uuid=replica_uuid, snapshot_uuid=uid() if snapshot_uuid is None
            else snapshot_uuid, snapshot_name=name, entity_id=entity_id, txn_id=txn_id))

    def snapshots(self, query=None, **kw):
        q = snapshot_pb2.ListSnapshotsRequest.Query(**query) if query else None
        return list(self.snap.ListSnapshot(snapshot_pb2.ListSnapshotsRequest(
            query=q, **kw)).snapshots)

    def destroy_snapshot(self, uuid, **kw):
        return self.snap.DestroySnapshot(snapshot_pb2.DestroySnapshotRequest(
            snapshot_uuid=uuid, **kw))

    def clone(self, snapshot_uuid, name, clone_uuid=None):
        return self.snap.CreateSnapshotClone(snapshot_pb2.CreateSnapshotCloneRequest(
            snapshot_uuid=snapshot_uuid, clone_name=name,
            clone_uuid=uid() if clone_uuid is None else clone_uuid))

    def clones(self, snapshot_uuid=None):
        req = snapshot_pb2.ListSnapshotCloneRequest()
        if snapshot_uuid is not None:
            req.snapshot_uuid = snapshot_uuid
        return list(self.snap.ListSnapshotClone(req).replicas)

    def xattrs(self, name):
        r = self.rpc("ioe_lvol_get_xattrs", {"name": name})
        return {x["name"]: base64.b64decode(x["value"]) for x in r["xattrs"]}, \
            [x["name"] for x in r["xattrs"]]


@pytest.fixture
def s(engine, tmp_path):
    st = Stubs(engine, tmp_path)
    yield st
    st.close()


# ---- create, copy-on-write, clone ---------------------------------------------------------

def test_snapshot_is_copy_on_write_and_readable_through_a_clone(s):
    r = s.create("r0", 16 * MiB, entity_id="vol-1")
    a0, a5 = pattern(1, 65536), pattern(2, 8192)
    s.rpc.write("r0", 0, a0)
    s.rpc.write("r0", 5 * MiB, a5)
    su = uid()
    resp = s.snapshot(r.uuid, "s1", su, entity_id="vol-1", txn_id="tx-7")
    assert resp.replica_uuid == r.uuid
    i = resp.snapshot
    assert i.snapshot_uuid == su and i.snapshot_name == "s1"
    assert i.source_uuid == r.uuid and i.source_size == 16 * MiB
    assert i.snapshot_size == 16 * MiB  # the thick replica's clusters, all moved to it
    assert i.pool_uuid == s.p.uuid and i.pool_name == "p0"
    assert i.entity_id == "vol-1" and i.txn_id == "tx-7"
    assert i.valid_snapshot and not i.ready_as_source and not i.discarded_snapshot
    assert i.num_clones == 0 and i.referenced_bytes == 0
    assert i.HasField("timestamp") and i.timestamp.seconds > 1700000000

    # The replica keeps accepting writes; its new data does not reach the snapshot.
    b0 = pattern(3, 65536)
    s.rpc.write("r0", 0, b0)
    assert s.rpc.read("r0", 0, 65536) == b0
    assert s.rpc.read("r0", 5 * MiB, 8192) == a5  # read through the snapshot

    c = s.clone(su, "c1")
    assert c.name == "c1" and c.is_clone and not c.is_snapshot and c.thin
    assert c.snapshot_uuid == su and c.size == 16 * MiB and c.poolname == "p0"
    assert c.uri == f"bdev:///c1?uuid={c.uuid}"
    assert s.rpc.read("c1", 0, 65536) == a0
    assert s.rpc.read("c1", 5 * MiB, 8192) == a5
    # The clone is writable and independent of the replica.
    s.rpc.write("c1", 5 * MiB, b"\x5a" * 4096)
    assert s.rpc.read("c1", 5 * MiB, 4096) == b"\x5a" * 4096
    assert s.rpc.read("r0", 5 * MiB, 8192) == a5
    assert s.rpc.read("r0", 0, 65536) == b0

    # A snapshot is a read-only device: writes are refused.
    code, _ = s.rpc.error("ioe_bdev_write", {"name": "s1", "offset": 0,
                                             "data": base64.b64encode(b"x" * 512).decode()})
    assert code != 0
    [i] = s.snapshots(snapshot_uuid=su)
    assert i.num_clones == 1

    # Replica listings: the snapshot's space is reported on its dependants.
    [rr] = s.replicas(uuid=r.uuid)
    assert not rr.is_snapshot and not rr.is_clone and not rr.HasField("snapshot_uuid")
    assert rr.usage.allocated_bytes_snapshots == 16 * MiB
    assert rr.usage.num_allocated_clusters_snapshots == 4
    assert rr.usage.num_allocated_clusters == 1  # the cluster written since
    assert not rr.usage.HasField("allocated_bytes_snapshot_from_clone")
    [cc] = s.replicas(name="c1")
    assert cc.is_clone and cc.usage.num_allocated_clusters == 1
    assert cc.usage.allocated_bytes_snapshots == 16 * MiB
    assert cc.usage.HasField("allocated_bytes_snapshot_from_clone")
    assert cc.usage.allocated_bytes_snapshot_from_clone == 0
    [ss] = s.replicas(name="s1")
    assert ss.is_snapshot and not ss.is_clone
    kinds = {x.name: (x.is_snapshot, x.is_clone)
             for x in s.replicas(query=replica_pb2.ListReplicaOptions.Query(snapshot=True))}
    assert kinds == {"s1": (True, False)}
    # Pool committed: full size of replicas and clones, allocated bytes of snapshots.
    [p] = s.pool.ListPools(pool_pb2.ListPoolOptions(name=wrappers_pb2.StringValue(value="p0"))).pools
    assert p.committed == 16 * MiB + 16 * MiB + 16 * MiB


def test_snapshot_of_a_clone_and_allocated_bytes_snapshot_from_clone(s):
    r = s.create("r0", 8 * MiB, thin=True)
    s.rpc.write("r0", 0, b"\x11" * 4096)
    s1 = s.snapshot(r.uuid, "s1").snapshot
    c = s.clone(s1.snapshot_uuid, "c1")
    s.rpc.write("c1", 4 * MiB, b"\x22" * 4096)
    s2 = s.snapshot(c.uuid, "s2").snapshot
    assert s2.source_uuid == c.uuid
    # s2 reads through s1 (s2 is no clone itself: no "from clone" figure for it).
    assert s2.referenced_bytes == s1.snapshot_size and s1.snapshot_size == 8 * MiB
    [cc] = s.replicas(name="c1")
    assert cc.usage.allocated_bytes_snapshot_from_clone == s2.snapshot_size
    assert cc.usage.allocated_bytes_snapshots == s2.snapshot_size + s1.snapshot_size
    assert s.rpc.read("c1", 0, 4096) == b"\x11" * 4096
    assert [x.snapshot_uuid for x in s.snapshots(source_uuid=c.uuid)] == [s2.snapshot_uuid]


# ---- errors -------------------------------------------------------------------------------

def test_create_snapshot_errors(s):
    r = s.create("r0")
    for field in ("snapshot_name", "entity_id", "txn_id", "snapshot_uuid"):
        req = dict(replica_uuid=r.uuid, snapshot_uuid=uid(), snapshot_name="s",
                   entity_id="e", txn_id="t")
        req[field] = ""
        e = grpc_error(s.snap.CreateReplicaSnapshot,
                       snapshot_pb2.CreateReplicaSnapshotRequest(**req))
        assert e.code() == INVALID and field in e.details(), field
    e = grpc_error(s.snapshot, uid(), "s")
    assert e.code() == NOT_FOUND and "not found" in e.details()
    e = grpc_error(s.snapshot, "not-a-uuid", "s")
    assert e.code() == NOT_FOUND
    e = grpc_error(s.snapshot, r.uuid, "s", "garbage")
    assert e.code() == INVALID
    su = s.snapshot(r.uuid, "s1").snapshot.snapshot_uuid
    e = grpc_error(s.snapshot, r.uuid, "s2", su)  # uuid of a snapshot
    assert e.code() == EXISTS
    e = grpc_error(s.snapshot, r.uuid, "s3", r.uuid)  # uuid of a replica
    assert e.code() == EXISTS
    e = grpc_error(s.snapshot, r.uuid, "r0")  # name of a device
    assert e.code() == EXISTS
    # A snapshot is not a replica: it cannot be snapshotted or destroyed as one.
    e = grpc_error(s.snapshot, su, "s4")
    assert e.code() == NOT_FOUND
    e = grpc_error(s.destroy, su)
    assert e.code() == NOT_FOUND
    assert len(s.snapshots()) == 1
    # CreateNexusSnapshot waits for the nexus.
    e = grpc_error(s.snap.CreateNexusSnapshot, snapshot_pb2.NexusCreateSnapshotRequest(
        nexus_uuid=uid()))
    assert e.code() == UNIMPLEMENTED and "nexus" in e.details()


def test_destroy_and_clone_errors(s, tmp_path):
    r = s.create("r0")
    su = s.snapshot(r.uuid, "s1").snapshot.snapshot_uuid
    e = grpc_error(s.destroy_snapshot, uid())
    assert e.code() == NOT_FOUND
    e = grpc_error(s.destroy_snapshot, r.uuid)  # a replica is not a snapshot
    assert e.code() == NOT_FOUND
    img2 = str(tmp_path / "p1.img")
    with open(img2, "wb") as f:
        f.truncate(64 * MiB)
    p1 = s.pool.CreatePool(pool_pb2.CreatePoolRequest(name="p1", disks=[f"aio://{img2}"]))
    e = grpc_error(s.destroy_snapshot, su, pool_name="p1")
    assert e.code() == ABORTED
    e = grpc_error(s.destroy_snapshot, su, pool_uuid=p1.uuid)
    assert e.code() == ABORTED
    e = grpc_error(s.destroy_snapshot, su, pool_name="nope")
    assert e.code() == NOT_FOUND

    e = grpc_error(s.clone, uid(), "c")
    assert e.code() == NOT_FOUND
    e = grpc_error(s.clone, r.uuid, "c")  # a replica is not a snapshot
    assert e.code() == NOT_FOUND
    e = grpc_error(s.clone, su, "c", r.uuid)
    assert e.code() == EXISTS
    e = grpc_error(s.clone, su, "c", su)
    assert e.code() == EXISTS
    e = grpc_error(s.clone, su, "r0")
    assert e.code() == EXISTS
    e = grpc_error(s.clone, su, "")
    assert e.code() == INVALID
    e = grpc_error(s.clone, su, "c", "")
    assert e.code() == INVALID
    c = s.clone(su, "c1")
    e = grpc_error(s.clone, su, "c2", c.uuid)
    assert e.code() == EXISTS
    # Discarded: no new clones.
    s.destroy_snapshot(su, pool_name="p0")
    e = grpc_error(s.clone, su, "c3")
    assert e.code() == NOT_FOUND and "discarded" in e.details()
    e = grpc_error(s.clones, uid())
    assert e.code() == NOT_FOUND


# ---- listing ------------------------------------------------------------------------------

def test_list_snapshot_filters(s):
    r0, r1 = s.create("r0", thin=True), s.create("r1", thin=True)
    s1 = s.snapshot(r0.uuid, "s1").snapshot
    s2 = s.snapshot(r0.uuid, "s2").snapshot
    s3 = s.snapshot(r1.uuid, "s3").snapshot
    assert {x.snapshot_uuid for x in s.snapshots()} == {s1.snapshot_uuid, s2.snapshot_uuid,
                                                        s3.snapshot_uuid}
    # By source: the replica's snapshots, newest first.
    assert [x.snapshot_name for x in s.snapshots(source_uuid=r0.uuid)] == ["s2", "s1"]
    assert [x.snapshot_name for x in s.snapshots(source_uuid=r1.uuid)] == ["s3"]
    assert s.snapshots(source_uuid=uid()) == []
    assert [x.snapshot_name for x in s.snapshots(snapshot_uuid=s2.snapshot_uuid)] == ["s2"]
    assert s.snapshots(snapshot_uuid=uid()) == []
    assert s.snapshots(snapshot_uuid=s2.snapshot_uuid, source_uuid=r1.uuid) == []
    # Query filters.
    assert len(s.snapshots(query={"invalid": False})) == 3
    assert s.snapshots(query={"invalid": True}) == []
    assert s.snapshots(query={"discarded": True}) == []
    # s2 has a clone: destroy only discards it.
    s.clone(s2.snapshot_uuid, "c2")
    s.destroy_snapshot(s2.snapshot_uuid)
    [d] = s.snapshots(query={"discarded": True})
    assert d.snapshot_uuid == s2.snapshot_uuid and d.discarded_snapshot
    assert {x.snapshot_name for x in s.snapshots(query={"discarded": False})} == {"s1", "s3"}
    assert {x.snapshot_name for x in s.snapshots(query={"discarded": False, "invalid": False})} \
        == {"s1", "s3"}
    # s1's only dependant is s2 (a later snapshot, no clones of s1): deleted, merged into s2.
    s.destroy_snapshot(s1.snapshot_uuid)
    assert s.snapshots(snapshot_uuid=s1.snapshot_uuid) == []
    assert [x.snapshot_name for x in s.snapshots(source_uuid=r0.uuid)] == ["s2"]
    # Every field of one entry.
    [x] = s.snapshots(snapshot_uuid=s3.snapshot_uuid)
    assert x.snapshot_name == "s3" and x.source_uuid == r1.uuid and x.source_size == 16 * MiB
    assert x.pool_name == "p0" and x.pool_uuid == s.p.uuid and x.txn_id == "tx-1"
    assert x.entity_id == "vol-1" and x.valid_snapshot and not x.ready_as_source
    assert x.timestamp == s3.timestamp
    # source_uuid is empty once the replica is gone; the snapshot stays.
    s.destroy(r1.uuid)
    [x] = s.snapshots(snapshot_uuid=s3.snapshot_uuid)
    assert x.source_uuid == "" and not x.discarded_snapshot
    # Nothing depends on it now: DestroySnapshot deletes it.
    s.destroy_snapshot(s3.snapshot_uuid)
    assert s.snapshots(snapshot_uuid=s3.snapshot_uuid) == []


def test_list_snapshot_clones(s):
    r = s.create("r0", thin=True)
    a = s.snapshot(r.uuid, "sa").snapshot.snapshot_uuid
    b = s.snapshot(r.uuid, "sb").snapshot.snapshot_uuid
    c1, c2, c3 = s.clone(a, "c1"), s.clone(a, "c2"), s.clone(b, "c3")
    assert [x.name for x in s.clones(a)] == ["c1", "c2"]
    assert [x.uuid for x in s.clones(b)] == [c3.uuid]
    assert {x.name for x in s.clones()} == {"c1", "c2", "c3"}
    assert all(x.is_clone for x in s.clones())
    assert s.snapshots(snapshot_uuid=a)[0].num_clones == 2
    assert c1.snapshot_uuid == a and c2.snapshot_uuid == a and c3.snapshot_uuid == b


# ---- destroy ------------------------------------------------------------------------------

def test_destroy_with_clones_discards_then_last_clone_deletes(s):
    r = s.create("r0", 8 * MiB)
    s.rpc.write("r0", 0, b"\x77" * 4096)
    su = s.snapshot(r.uuid, "s1").snapshot.snapshot_uuid
    c1, c2 = s.clone(su, "c1"), s.clone(su, "c2")
    s.destroy_snapshot(su)
    [d] = s.snapshots(snapshot_uuid=su)
    assert d.discarded_snapshot and d.num_clones == 2
    x, _ = s.xattrs("s1")
    assert x["io-engine.discarded_snapshot"] == b"true"
    s.destroy_snapshot(su)  # again: still discarded, no error
    assert s.rpc.read("c1", 0, 4096) == b"\x77" * 4096
    s.destroy(r.uuid)  # the replica it was taken of
    s.destroy(c1.uuid)
    assert len(s.snapshots(snapshot_uuid=su)) == 1
    s.destroy(c2.uuid)  # the last clone: the snapshot goes too
    assert s.snapshots() == []
    assert s.replicas() == []
    [p] = s.pool.ListPools(pool_pb2.ListPoolOptions(name=wrappers_pb2.StringValue(value="p0"))).pools
    assert p.used == 0 and p.committed == 0


def pool_used(s):
    [p] = s.pool.ListPools(pool_pb2.ListPoolOptions(
        name=wrappers_pb2.StringValue(value="p0"))).pools
    return p.used


def test_destroy_snapshot_of_live_replica_deletes_it(s):
    """A snapshot whose only dependant is its replica is deleted: the blobstore merges it
    into the replica (docs/on-disk-format.md §7.4), which keeps reading the same data, and
    the snapshot's space not needed by the replica is freed."""
    r = s.create("r0", 8 * MiB)
    s.rpc.write("r0", 0, pattern(1, 8192))
    s.rpc.write("r0", 4 * MiB, pattern(2, 4096))
    used0 = pool_used(s)
    assert used0 == 8 * MiB
    su = s.snapshot(r.uuid, "s1").snapshot.snapshot_uuid
    s.rpc.write("r0", 4096, pattern(3, 4096))  # copy-on-write of the first cluster
    assert pool_used(s) > used0
    want0 = pattern(1, 8192)[:4096] + pattern(3, 4096)
    s.destroy_snapshot(su)
    assert s.snapshots(snapshot_uuid=su) == [] and s.snapshots() == []
    assert s.rpc.read("r0", 0, 8192) == want0
    assert s.rpc.read("r0", 4 * MiB, 4096) == pattern(2, 4096)
    assert pool_used(s) == used0
    [rr] = s.replicas()
    assert rr.uuid == r.uuid and rr.size == 8 * MiB
    # A chain r0 <- s3 <- s2: deleting the older one merges it into the newer.
    s2 = s.snapshot(r.uuid, "s2").snapshot.snapshot_uuid
    s.rpc.write("r0", 4 * MiB + 4096, pattern(4, 4096))
    s3 = s.snapshot(r.uuid, "s3").snapshot.snapshot_uuid
    s.rpc.write("r0", 0, pattern(5, 4096))
    s.destroy_snapshot(s2)
    assert [x.snapshot_uuid for x in s.snapshots(source_uuid=r.uuid)] == [s3]
    want1 = pattern(2, 4096) + pattern(4, 4096)
    assert s.rpc.read("r0", 0, 8192) == pattern(5, 4096) + want0[4096:]
    assert s.rpc.read("r0", 4 * MiB, 8192) == want1
    s.destroy_snapshot(s3)
    assert s.snapshots() == []
    assert pool_used(s) == used0
    # Survives export and import.
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[s.disk]))
    assert s.snapshots() == []
    assert [x.uuid for x in s.replicas()] == [r.uuid]
    assert s.rpc.read("r0", 0, 8192) == pattern(5, 4096) + want0[4096:]
    assert s.rpc.read("r0", 4 * MiB, 8192) == want1
    assert pool_used(s) == used0
    s.destroy(r.uuid)
    assert s.snapshots() == [] and s.replicas() == []
    assert pool_used(s) == 0


def test_discarded_snapshot_merged_into_replica_with_last_clone(s):
    """A discarded snapshot whose last clone goes while its replica still reads through it
    is deleted then (merged into the replica)."""
    r = s.create("r0", 8 * MiB)
    s.rpc.write("r0", 0, pattern(8, 4096))
    su = s.snapshot(r.uuid, "s1").snapshot.snapshot_uuid
    c = s.clone(su, "c1")
    s.destroy_snapshot(su)
    [d] = s.snapshots(snapshot_uuid=su)
    assert d.discarded_snapshot
    s.destroy(c.uuid)
    assert s.snapshots() == []
    assert s.rpc.read("r0", 0, 4096) == pattern(8, 4096)
    assert pool_used(s) == 8 * MiB
    s.destroy(r.uuid)
    assert pool_used(s) == 0


# ---- persistence --------------------------------------------------------------------------

def test_export_import_keeps_snapshots_clones_and_data(s):
    r = s.create("r0", 8 * MiB)
    s.rpc.write("r0", 0, pattern(5, 8192))
    s1 = s.snapshot(r.uuid, "s1").snapshot
    s.rpc.write("r0", 0, pattern(6, 8192))
    c = s.clone(s1.snapshot_uuid, "c1")
    s.rpc.write("c1", 4 * MiB, pattern(7, 4096))
    s2 = s.snapshot(r.uuid, "s2").snapshot
    keep = c.uuid
    before = sorted(s.snapshots(), key=lambda x: x.snapshot_name)
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    assert s.snapshots() == [] and s.replicas() == []
    s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[s.disk]))
    after = sorted(s.snapshots(), key=lambda x: x.snapshot_name)
    assert after == before
    assert [x.snapshot_uuid for x in s.snapshots(source_uuid=r.uuid)] == \
        [s2.snapshot_uuid, s1.snapshot_uuid]
    [cc] = s.clones(s1.snapshot_uuid)
    assert cc.uuid == keep and cc.is_clone and cc.snapshot_uuid == s1.snapshot_uuid
    assert s.rpc.read("c1", 0, 8192) == pattern(5, 8192)
    assert s.rpc.read("c1", 4 * MiB, 4096) == pattern(7, 4096)
    assert s.rpc.read("r0", 0, 8192) == pattern(6, 8192)
    # A discarded snapshot survives the round trip discarded, and still goes with its
    # last clone.
    s.destroy_snapshot(s1.snapshot_uuid)
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[s.disk]))
    [d] = s.snapshots(snapshot_uuid=s1.snapshot_uuid)
    assert d.discarded_snapshot
    s.destroy(keep)
    # Its last clone gone, s1 goes too (merged into s2, the replica's newer snapshot).
    assert [x.snapshot_name for x in s.snapshots()] == ["s2"]
    assert s.rpc.read("r0", 0, 8192) == pattern(6, 8192)
    s.destroy(r.uuid)
    assert {x.snapshot_name for x in s.snapshots()} == {"s2"}
    # s2 has no dependant left: deleted.
    s.destroy_snapshot(s2.snapshot_uuid)
    assert s.snapshots() == [] and s.replicas() == []


# ---- on-disk encodings --------------------------------------------------------------------

def test_snapshot_and_clone_xattr_encodings(s):
    r = s.create("r0", 8 * MiB)
    su, cu = uid(), uid()
    s.snapshot(r.uuid, "s1", su, entity_id="e1", txn_id="tx1")
    x, order = s.xattrs("s1")
    assert order == ["name", "uuid", "io-engine.tx_id", "io-engine.entity_id",
                     "io-engine.parent_id", "io-engine.snapshot_create_time",
                     "io-engine.discarded_snapshot"]
    assert x["name"] == b"s1".ljust(64, b"\0")
    assert x["uuid"] == su.encode() + b"\0"
    assert x["io-engine.tx_id"] == b"tx1" and x["io-engine.entity_id"] == b"e1"
    assert x["io-engine.parent_id"] == r.uuid.encode()
    assert TIME_RE.match(x["io-engine.snapshot_create_time"])
    assert x["io-engine.discarded_snapshot"] == b"false"
    s.clone(su, "c1", cu)
    x, order = s.xattrs("c1")
    assert order == ["name", "uuid", "io-engine.source_uuid", "io-engine.clone_create_time"]
    assert x["name"] == b"c1".ljust(64, b"\0") and x["uuid"] == cu.encode() + b"\0"
    assert x["io-engine.source_uuid"] == su.encode()
    assert TIME_RE.match(x["io-engine.clone_create_time"])
    # The replica itself keeps its own xattrs (name, uuid) only.
    x, order = s.xattrs("r0")
    assert order == ["name", "uuid"]


# ---- JSON-RPC -----------------------------------------------------------------------------

def test_jsonrpc_snapshot_and_clone(s):
    s.create("r0", 8 * MiB)
    s.rpc.write("r0", 0, b"\x44" * 4096)
    assert s.rpc("bdev_lvol_snapshot", {"lvol_name": "r0", "snapshot_name": "js"}) == "js"
    s.rpc.write("r0", 0, b"\x45" * 4096)
    assert s.rpc("bdev_lvol_clone", {"snapshot_name": "p0/js", "clone_name": "jc"}) == "jc"
    assert s.rpc.read("jc", 0, 4096) == b"\x44" * 4096
    lv = {x["name"]: x for x in s.rpc("bdev_lvol_get_lvols")}
    assert lv["js"]["is_snapshot"] and lv["jc"]["is_clone"] and lv["r0"]["is_clone"]
    [i] = s.snapshots()
    assert i.snapshot_name == "js" and i.num_clones == 1
    code, _ = s.rpc.error("bdev_lvol_snapshot", {"lvol_name": "nope", "snapshot_name": "x"})
    assert code == -19
    code, _ = s.rpc.error("bdev_lvol_snapshot", {"lvol_name": "r0"})
    assert code == -32602
    code, _ = s.rpc.error("bdev_lvol_snapshot", {"lvol_name": "r0", "snapshot_name": "x",
                                                 "extra": 1})
    assert code == -32602
    code, _ = s.rpc.error("bdev_lvol_snapshot", {"lvol_name": "r0", "snapshot_name": "jc"})
    assert code == -17
    code, _ = s.rpc.error("bdev_lvol_clone", {"snapshot_name": "r0", "clone_name": "x"})
    assert code == -2  # not a snapshot
    methods = s.rpc("rpc_get_methods")
    assert "bdev_lvol_snapshot" in methods and "bdev_lvol_clone" in methods


# ---- CLI ----------------------------------------------------------------------------------

def cli(engine, *args):
    return subprocess.run([CLIENT, "-b", engine.endpoint] + list(args), capture_output=True,
                          text=True, timeout=30)


def test_cli_snapshot_commands(engine, s):
    r = s.create("r0", 8 * MiB)
    out = cli(engine, "snapshot", "list")
    assert out.returncode == 0 and "No snapshots found" in out.stdout
    su = uid()
    out = cli(engine, "snapshot", "create", r.uuid, "cs", su, "--entity-id", "vol-9")
    assert out.returncode == 0, out.stderr
    assert "cs" in out.stdout and su in out.stdout and r.uuid in out.stdout
    out = cli(engine, "snapshot", "create", r.uuid, "cs2")
    assert out.returncode == 3 and "--entity-id" in out.stderr
    out = cli(engine, "-o", "json", "snapshot", "list", "--source", r.uuid)
    [j] = json.loads(out.stdout)["snapshots"]
    assert j["snapshot_uuid"] == su and j["entity_id"] == "vol-9" and j["valid_snapshot"]
    cu = uid()
    out = cli(engine, "snapshot", "clone", su, "cc", cu)
    assert out.returncode == 0 and cu in out.stdout, out.stderr
    out = cli(engine, "snapshot", "list-clones", su)
    assert out.returncode == 0 and "cc" in out.stdout and cu in out.stdout
    out = cli(engine, "snapshot", "destroy", su, "--pool", "p0")
    assert out.returncode == 0 and out.stdout == ""
    out = cli(engine, "snapshot", "list", "--discarded", "true")
    assert out.returncode == 0 and "cs" in out.stdout and "true" in out.stdout
    out = cli(engine, "snapshot", "list", "--discarded", "maybe")
    assert out.returncode == 3
    out = cli(engine, "snapshot", "destroy", uid())
    assert out.returncode == 1 and "NOT_FOUND" in out.stderr
    out = cli(engine, "snapshot", "clone", su, "cc2")
    assert out.returncode == 1 and "NOT_FOUND" in out.stderr


def test_merge_into_replica_grown_after_the_snapshot(s):
    """The replica grew after its snapshot and never wrote since: the merge hands it the
    snapshot's extent page, which must then be rewritten for the replica's larger size, or
    the pool no longer imports (found by the crash test)."""
    r = s.create("rg", 8 * MiB)
    s.rpc.write("rg", 0, pattern(7, 8192))
    su = s.snapshot(r.uuid, "sg").snapshot.snapshot_uuid
    s.replica.ResizeReplica(replica_pb2.ResizeReplicaRequest(uuid=r.uuid, requested_size=16 * MiB))
    s.destroy_snapshot(su)
    assert s.snapshots() == []
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[s.disk]))
    [rr] = s.replicas()
    assert rr.uuid == r.uuid and rr.size == 16 * MiB
    assert s.rpc.read("rg", 0, 8192) == pattern(7, 8192)
    assert s.rpc.read("rg", 12 * MiB, 4096) == bytes(4096)
