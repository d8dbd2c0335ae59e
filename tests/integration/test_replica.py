"""Replicas through every control surface of the real daemon: gRPC ReplicaRpc (v1) and the
v0 Mayastor replica methods, the SPDK-named JSON-RPC methods (bdev_lvol_*), our
diagnostics (ioe_lvol_get_xattrs, ioe_lvol_set_property, ioe_bdev_write/read), and
io-engine-client `replica`.

Covers behaviour §4 (identity by uuid, pool by uuid or name, ALREADY_EXISTS rules, size
and space errors, share value validation, thin provisioning, entity_id, persistent
properties with their on-disk encodings (docs/on-disk-format.md §8.3, §10), destroy with
gtm-602, resize errors, URIs, space usage), that a replica is a block device whose data
lives in the pool, and 1000 replicas in one pool."""
import base64
import json
import subprocess
import time
import uuid as uuidlib

import grpc
import pytest
from google.protobuf import wrappers_pb2

import bdev_pb2
import common_pb2
import mayastor_pb2
import pool_pb2
import replica_pb2
from conftest import CLIENT
from lvs_helpers import MiB, LvsStubs, grpc_error, make_image

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ABORTED = grpc.StatusCode.ABORTED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED
INTERNAL = grpc.StatusCode.INTERNAL
ENODEV, EBUSY = -19, -16


class Stubs(LvsStubs):
    def create_pool(self, name, disk, **kw):
        return self.pool.CreatePool(pool_pb2.CreatePoolRequest(name=name, disks=[disk], **kw))

    def create(self, name, pool, size, **kw):
        kw.setdefault("uuid", str(uuidlib.uuid4()))
        return self.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
            name=name, pooluuid=pool, size=size, **kw))

    def destroy(self, uuid, **kw):
        return self.replica.DestroyReplica(replica_pb2.DestroyReplicaRequest(uuid=uuid, **kw))

    def list(self, **kw):
        for k in ("name", "uuid", "poolname", "pooluuid"):
            if k in kw:
                kw[k] = wrappers_pb2.StringValue(value=kw[k])
        return list(self.replica.ListReplicas(replica_pb2.ListReplicaOptions(**kw)).replicas)

    def xattrs(self, name):
        r = self.rpc("ioe_lvol_get_xattrs", {"name": name})
        return {x["name"]: base64.b64decode(x["value"]) for x in r["xattrs"]}, \
            [x["name"] for x in r["xattrs"]]


def pattern(seed, n):
    return bytes((seed * 131 + i * 13) & 0xFF for i in range(n))


@pytest.fixture
def s(engine, tmp_path):
    st = Stubs(engine)
    st.img = make_image(tmp_path / "pool.img")
    st.p = st.create_pool("p0", f"aio://{st.img}")
    yield st
    st.close()


# ---- create ---------------------------------------------------------------------------

def test_create_replica_fields(s):
    u = str(uuidlib.uuid4())
    r = s.create("r0", "p0", 10 * MiB, uuid=u, entity_id="vol-7")
    assert r.name == "r0" and r.uuid == u
    assert r.pooluuid == s.p.uuid and r.poolname == "p0" and r.pooltype == pool_pb2.Lvs
    assert r.size == 12 * MiB  # whole clusters
    assert not r.thin and r.share == common_pb2.NONE and list(r.allowed_hosts) == []
    assert r.uri == f"bdev:///r0?uuid={u}"
    assert not r.is_snapshot and not r.is_clone and not r.HasField("snapshot_uuid")
    assert r.HasField("entity_id") and r.entity_id == "vol-7"
    assert r.usage.capacity_bytes == 12 * MiB and r.usage.cluster_size == 4 * MiB
    assert r.usage.num_clusters == 3 and r.usage.num_allocated_clusters == 3
    assert r.usage.allocated_bytes == 12 * MiB
    assert r.usage.allocated_bytes_snapshots == 0 and r.usage.num_allocated_clusters_snapshots == 0
    t = s.create("r1", s.p.uuid, 10 * MiB, thin=True)  # pool by uuid
    # The pool's disk is aio (no UNMAP): the first 8 MiB are zeroed, which allocates them
    # even in a thin replica (on-disk format §11.6).
    assert t.thin and t.usage.num_clusters == 3 and t.usage.num_allocated_clusters == 2
    assert not t.HasField("entity_id")
    assert s.list() == [r, t]


def test_replica_is_a_block_device(s):
    r = s.create("r0", "p0", 8 * MiB)
    [b] = s.bdev.List(bdev_pb2.ListBdevOptions(name=wrappers_pb2.StringValue(value="r0"))).bdevs
    assert b.name == "r0" and b.uuid == r.uuid and b.product_name == "Logical Volume"
    assert b.num_blocks * b.blk_size == 8 * MiB and not b.claimed
    assert "p0/r0" in b.aliases.split(",")
    [j] = s.rpc("bdev_get_bdevs", {"name": "p0/r0"})
    assert j["name"] == "r0" and j["uuid"] == r.uuid
    lv = j["driver_specific"]["lvol"]
    assert lv["lvol_store_uuid"] == s.p.uuid and lv["base_bdev"] == s.img
    assert lv["thin_provision"] is False and lv["num_allocated_clusters"] == 2
    assert j["supported_io_types"]["unmap"] and j["supported_io_types"]["write_zeroes"]
    # I/O maps through the pool: across a cluster boundary, and at the end.
    for off, n in ((0, 4096), (4 * MiB - 4096, 16384), (8 * MiB - 65536, 65536)):
        data = pattern(off // 4096, n)
        s.rpc.write("r0", off, data)
        assert s.rpc.read("r0", off, n) == data
    code, msg = s.rpc.error("ioe_bdev_read", {"name": "r0", "offset": 8 * MiB, "length": 512})
    assert code == -32602 and "beyond" in msg
    st = s.rpc("bdev_get_iostat", {"name": "r0"})["bdevs"][0]
    assert st["num_write_ops"] >= 3 and st["bytes_read"] >= 4096 + 16384 + 65536


def test_thin_replica_allocates_on_write(engine, tmp_path):
    st = Stubs(engine)
    try:
        img = make_image(tmp_path / "t.img")
        st.create_pool("pt", f"uring://{img}")  # UNMAP: nothing written at creation
        r = st.create("t", "pt", 64 * MiB, thin=True)
        assert r.usage.num_allocated_clusters == 0 and r.usage.allocated_bytes == 0
        assert st.rpc.read("t", 20 * MiB, 4096) == b"\0" * 4096
        st.rpc.write("t", 20 * MiB + 512, pattern(1, 1024))
        [r] = st.list(name="t")
        assert r.usage.num_allocated_clusters == 1 and r.usage.allocated_bytes == 4 * MiB
        got = st.rpc.read("t", 20 * MiB, 4096)
        assert got[:512] == b"\0" * 512 and got[512:1536] == pattern(1, 1024)
        assert got[1536:] == b"\0" * (4096 - 1536)
        assert st.pool.ListPools(pool_pb2.ListPoolOptions()).pools[0].used == 4 * MiB
    finally:
        st.close()


@pytest.mark.parametrize("scheme", ["aio", "uring"])
def test_new_replica_reads_zeroes_after_old_data(engine, tmp_path, scheme):
    """aio disks have no UNMAP: a new replica gets its first 8 MiB zeroed (§4). uring disks
    have it: replicas are created with clear method UNMAP and nothing is written."""
    st = Stubs(engine)
    try:
        img = make_image(tmp_path / "z.img", 64 * MiB)
        p = st.create_pool("pz", f"{scheme}://{img}")
        r = st.create("old", "pz", 32 * MiB)
        st.rpc.write("old", 0, b"\xaa" * 65536)
        st.rpc.write("old", 12 * MiB, b"\xbb" * 65536)
        st.destroy(r.uuid)
        zeroed = st.rpc("bdev_get_iostat", {"name": img})["bdevs"][0]["bytes_write_zeroed"]
        st.create("new", "pz", 32 * MiB)
        after = st.rpc("bdev_get_iostat", {"name": img})["bdevs"][0]["bytes_write_zeroed"]
        assert after - zeroed == (8 * MiB if scheme == "aio" else 0)
        assert st.rpc.read("new", 0, 65536) == b"\0" * 65536
        if scheme == "uring":
            assert st.rpc.read("new", 12 * MiB, 65536) == b"\0" * 65536
        # Without UNMAP a new replica needs 8 MiB free, even a thin one.
        st.create("fill", "pz", p.capacity - 32 * MiB - 4 * MiB)
        if scheme == "aio":
            e = grpc_error(st.create, "t", "pz", 4 * MiB, thin=True)
            assert e.code() == EXHAUSTED
        else:
            st.create("t", "pz", 4 * MiB, thin=True)
    finally:
        st.close()


def test_create_errors(s):
    r = s.create("r0", "p0", 8 * MiB)
    # Missing pool: FAILED_PRECONDITION (by uuid or by name).
    for pool in ("nope", str(uuidlib.uuid4())):
        e = grpc_error(s.create, "x", pool, 8 * MiB)
        assert e.code() == PRECONDITION and pool in e.details()
    # Name or uuid used by any device.
    assert grpc_error(s.create, "r0", "p0", 8 * MiB).code() == EXISTS
    assert grpc_error(s.create, "r1", "p0", 8 * MiB, uuid=r.uuid).code() == EXISTS
    mu = str(uuidlib.uuid4())
    s.bdev.Create(bdev_pb2.CreateBdevRequest(uri=f"malloc:///m0?size_mb=8&uuid={mu}"))
    assert grpc_error(s.create, "m0", "p0", 8 * MiB).code() == EXISTS
    assert grpc_error(s.create, "r1", "p0", 8 * MiB, uuid=mu).code() == EXISTS
    # Size: above the pool's capacity INVALID_ARGUMENT, above its free space exhausted.
    e = grpc_error(s.create, "big", "p0", s.p.capacity + 1)
    assert e.code() == INVALID
    e = grpc_error(s.create, "big", "p0", s.p.capacity - 4 * MiB)
    assert e.code() == EXHAUSTED
    # ...but thin replicas may over-commit.
    s.create("thin-big", "p0", s.p.capacity, thin=True)
    # Share value: only NONE and NVMF.
    for v in (common_pb2.ISCSI, 9):
        e = grpc_error(s.create, "x", "p0", 8 * MiB, share=v)
        assert e.code() == INVALID and "share protocol" in e.details()
    # Bad name, uuid or size.
    assert grpc_error(s.create, "", "p0", 8 * MiB).code() == INVALID
    assert grpc_error(s.create, "zero", "p0", 0).code() == INVALID
    assert grpc_error(s.create, "n" * 64, "p0", 8 * MiB).code() == INVALID
    assert grpc_error(s.create, "x", "p0", 8 * MiB, uuid="not-a-uuid").code() == INVALID
    # Nothing was left behind.
    assert [x.name for x in s.list()] == ["r0", "thin-big"]


HOST_A = "nqn.2014-08.org.nvmexpress:uuid:4e564d65-0000-4000-8000-0000000fea51"


def test_nvmf_share(engine, s):
    port = engine.nvmf_port
    r = s.create("r0", "p0", 8 * MiB, share=common_pb2.NVMF, allowed_hosts=[HOST_A])
    uri = f"nvmf://127.0.0.1:{port}/nqn.2019-05.io.openebs:r0?uuid={r.uuid}"
    assert r.share == common_pb2.NVMF and r.uri == uri and list(r.allowed_hosts) == [HOST_A]
    x, _ = s.xattrs("r0")
    assert x["shared"] == b"true\0" and x["allowed-hosts"] == HOST_A.encode() + b"\0"
    # A share that fails destroys the new replica (bad host NQN).
    e = grpc_error(s.create, "r1", "p0", 8 * MiB, share=common_pb2.NVMF, allowed_hosts=["bad"])
    assert e.code() == INVALID and [x.name for x in s.list()] == ["r0"]
    # Sharing a shared replica again replaces its allowed hosts.
    r = s.replica.ShareReplica(replica_pb2.ShareReplicaRequest(uuid=r.uuid, share=common_pb2.NVMF))
    assert list(r.allowed_hosts) == [] and r.uri == uri
    # Persisted: an export/import shares it again.
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[f"aio://{s.img}"]))
    [r] = s.list()
    assert r.share == common_pb2.NVMF and r.uri == uri
    subs = {x["nqn"]: x for x in s.rpc("nvmf_get_subsystems", {})}
    assert subs["nqn.2019-05.io.openebs:r0"]["namespaces"][0]["uuid"] == r.uuid
    assert subs["nqn.2019-05.io.openebs:r0"]["serial_number"].startswith("DCS")
    r = s.replica.UnshareReplica(replica_pb2.UnshareReplicaRequest(uuid=r.uuid))
    assert r.share == common_pb2.NONE and r.uri.startswith("bdev:///r0?uuid=")
    assert s.xattrs("r0")[0]["shared"] == b"false\0"
    # NONE while unshared is invalid; unsharing again is a no-op.
    e = grpc_error(s.replica.ShareReplica, replica_pb2.ShareReplicaRequest(
        uuid=r.uuid, share=common_pb2.NONE))
    assert e.code() == INVALID
    s.replica.UnshareReplica(replica_pb2.UnshareReplicaRequest(uuid=r.uuid))
    e = grpc_error(s.replica.ShareReplica, replica_pb2.ShareReplicaRequest(
        uuid=str(uuidlib.uuid4()), share=common_pb2.NVMF))
    assert e.code() == NOT_FOUND
    # A shared replica can be destroyed (it is unshared first).
    s.replica.ShareReplica(replica_pb2.ShareReplicaRequest(uuid=r.uuid, share=common_pb2.NVMF))
    s.destroy(r.uuid)
    assert s.list() == [] and "nqn.2019-05.io.openebs:r0" not in {
        x["nqn"] for x in s.rpc("nvmf_get_subsystems", {})}
    # v0: ShareReplica answers the URI; REPLICA_NONE unshares.
    v = s.v0.CreateReplica(mayastor_pb2.CreateReplicaRequest(uuid=str(uuidlib.uuid4()), pool="p0",
                                                             size=8 * MiB))
    got = s.v0.ShareReplica(mayastor_pb2.ShareReplicaRequest(uuid=v.uuid,
                                                             share=mayastor_pb2.REPLICA_NVMF))
    # (a v0 replica is named by the request's uuid; its lvol uuid is its own)
    assert got.uri.startswith(f"nvmf://127.0.0.1:{port}/nqn.2019-05.io.openebs:{v.uuid}?uuid=")
    got = s.v0.ShareReplica(mayastor_pb2.ShareReplicaRequest(uuid=v.uuid,
                                                             share=mayastor_pb2.REPLICA_NONE))
    assert got.uri.startswith("bdev:///")
    e = grpc_error(s.v0.ShareReplica, mayastor_pb2.ShareReplicaRequest(uuid="nope"))
    assert e.code() == NOT_FOUND
    # v0 too: a share that fails at create destroys the new replica again.
    bad = str(uuidlib.uuid4())
    e = grpc_error(s.v0.CreateReplica, mayastor_pb2.CreateReplicaRequest(
        uuid=bad, pool="p0", size=8 * MiB, share=mayastor_pb2.REPLICA_NVMF,
        allowed_hosts=["not an nqn"]))
    assert e.code() == INVALID and "destroyed again" in e.details(), e.details()
    assert bad not in [x.name for x in s.list()]


# ---- destroy --------------------------------------------------------------------------

def test_destroy_replica(s, tmp_path):
    r = s.create("r0", "p0", 8 * MiB)
    # Not found: NOT_FOUND with trailing metadata gtm-602: 0 (upstream clients rely on it).
    for u in (str(uuidlib.uuid4()), "not-a-uuid"):
        e = grpc_error(s.destroy, u)
        assert e.code() == NOT_FOUND
        assert ("gtm-602", "0") in tuple(e.trailing_metadata())
    # A pool that is not loaded: FAILED_PRECONDITION; another pool: ABORTED.
    assert grpc_error(s.destroy, r.uuid, pool_name="nope").code() == PRECONDITION
    assert grpc_error(s.destroy, r.uuid, pool_uuid=str(uuidlib.uuid4())).code() == PRECONDITION
    other = s.create_pool("p1", f"aio://{make_image(tmp_path / 'o.img')}")
    assert grpc_error(s.destroy, r.uuid, pool_name="p1").code() == ABORTED
    assert grpc_error(s.destroy, r.uuid, pool_uuid=other.uuid).code() == ABORTED
    # A device that is not a replica.
    mu = str(uuidlib.uuid4())
    s.bdev.Create(bdev_pb2.CreateBdevRequest(uri=f"malloc:///m0?size_mb=8&uuid={mu}"))
    assert grpc_error(s.destroy, mu).code() == INTERNAL
    s.destroy(r.uuid, pool_name="p0")
    assert s.list() == [] and "r0" not in {b.name for b in s.bdev.List(
        bdev_pb2.ListBdevOptions()).bdevs}
    assert grpc_error(s.destroy, r.uuid).code() == NOT_FOUND
    r = s.create("r0", "p0", 8 * MiB)
    s.destroy(r.uuid, pool_uuid=s.p.uuid)
    r = s.create("r0", "p0", 8 * MiB)
    s.destroy(r.uuid)
    assert s.pool.ListPools(pool_pb2.ListPoolOptions()).pools[0].used == 0


def test_destroy_removes_ptpl_files(engine_factory, tmp_path):
    """Persist-through-power-loss files: <ptpl>/pool/<pool uuid>/replica/<uuid>.json goes
    with its replica, <ptpl>/pool/<pool uuid>/ with its pool (behaviour §3, §4)."""
    ptpl = tmp_path / "ptpl"
    ptpl.mkdir()
    e = engine_factory("--ptpl-dir", str(ptpl))
    st = Stubs(e)
    try:
        p = st.create_pool("p0", f"aio://{make_image(tmp_path / 'pp.img')}")
        a = st.create("a", "p0", 4 * MiB)
        b = st.create("b", "p0", 4 * MiB)
        rdir = ptpl / "pool" / p.uuid / "replica"
        rdir.mkdir(parents=True)
        for r in (a, b):
            (rdir / f"{r.uuid}.json").write_text("{}")
        st.destroy(a.uuid)
        assert not (rdir / f"{a.uuid}.json").exists() and (rdir / f"{b.uuid}.json").exists()
        st.pool.DestroyPool(pool_pb2.DestroyPoolRequest(name="p0"))
        assert not (ptpl / "pool" / p.uuid).exists() and (ptpl / "pool").exists()
    finally:
        st.close()


# ---- list -----------------------------------------------------------------------------

def test_list_filters(s, tmp_path):
    a = s.create("a", "p0", 4 * MiB)
    b = s.create("b", "p0", 4 * MiB, thin=True)
    q = s.create_pool("p1", f"aio://{make_image(tmp_path / 'q.img')}")
    c = s.create("c", "p1", 4 * MiB)
    assert s.list() == [a, b, c]
    assert s.list(name="b") == [b] and s.list(uuid=c.uuid) == [c]
    assert s.list(poolname="p0") == [a, b] and s.list(pooluuid=q.uuid) == [c]
    assert s.list(name="a", poolname="p1") == []
    assert s.list(name="nope") == []
    assert s.list(pooltypes=[pool_pb2.Lvs]) == [a, b, c]
    assert s.list(pooltypes=[pool_pb2.Lvm]) == []
    assert s.list(pooltypes=[pool_pb2.Lvm, pool_pb2.Lvs]) == [a, b, c]
    Q = replica_pb2.ListReplicaOptions.Query
    assert s.list(query=Q(replica=True)) == [a, b, c]
    assert s.list(query=Q(snapshot=True)) == []
    assert s.list(query=Q(clone=True)) == []
    assert s.list(query=Q()) == []
    assert grpc_error(s.list, pooltypes=[5]).code() == INVALID


# ---- resize / entity id ---------------------------------------------------------------

def test_resize_replica(s):
    r = s.create("r0", "p0", 8 * MiB)
    s.rpc.write("r0", 4 * MiB, pattern(7, 4096))
    g = s.replica.ResizeReplica(replica_pb2.ResizeReplicaRequest(uuid=r.uuid,
                                                                 requested_size=20 * MiB))
    assert g.size == 20 * MiB and g.usage.num_clusters == 5
    [b] = s.bdev.List(bdev_pb2.ListBdevOptions(name=wrappers_pb2.StringValue(value="r0"))).bdevs
    assert b.num_blocks * b.blk_size == 20 * MiB
    assert s.rpc.read("r0", 4 * MiB, 4096) == pattern(7, 4096)
    s.rpc.write("r0", 19 * MiB, pattern(8, 4096))
    sh = s.replica.ResizeReplica(replica_pb2.ResizeReplicaRequest(uuid=r.uuid,
                                                                  requested_size=6 * MiB))
    assert sh.size == 8 * MiB
    assert s.rpc.read("r0", 4 * MiB, 4096) == pattern(7, 4096)
    # Errors: unknown replica, no space (thick).
    e = grpc_error(s.replica.ResizeReplica, replica_pb2.ResizeReplicaRequest(
        uuid=str(uuidlib.uuid4()), requested_size=8 * MiB))
    assert e.code() == NOT_FOUND
    e = grpc_error(s.replica.ResizeReplica, replica_pb2.ResizeReplicaRequest(
        uuid=r.uuid, requested_size=s.p.capacity * 2))
    assert e.code() == EXHAUSTED
    assert s.list()[0].size == 8 * MiB


def test_entity_id_and_property_encodings(s):
    r = s.create("r0", "p0", 8 * MiB)
    x, order = s.xattrs("r0")
    # SPDK's lvol xattrs (§8.3): name NUL-padded to 64 bytes, uuid 36 characters + NUL.
    assert order == ["name", "uuid"]
    assert x["name"] == b"r0" + b"\0" * 62
    assert x["uuid"] == r.uuid.encode() + b"\0"
    u = s.replica.SetReplicaEntityId(replica_pb2.SetReplicaEntityIdRequest(
        uuid=r.uuid, entity_id="vol-42"))
    assert u.entity_id == "vol-42"
    # The io-engine's properties (§10): values with a trailing NUL, in the order set.
    s.rpc("ioe_lvol_set_property", {"name": "r0", "property": "shared", "value": "true"})
    s.rpc("ioe_lvol_set_property", {"name": "r0", "property": "allowed-hosts", "value": ""})
    x, order = s.xattrs("r0")
    assert order == ["name", "uuid", "entity_id", "shared", "allowed-hosts"]
    assert x["entity_id"] == b"vol-42\0" and x["shared"] == b"true\0"
    assert x["allowed-hosts"] == b"\0"
    s.rpc("ioe_lvol_set_property", {"name": "r0", "property": "allowed-hosts",
                                    "value": "nqn.a,nqn.b"})
    s.rpc("ioe_lvol_set_property", {"name": "r0", "property": "shared", "value": "false"})
    assert s.xattrs("r0")[0]["allowed-hosts"] == b"nqn.a,nqn.b\0"
    assert s.xattrs("r0")[0]["shared"] == b"false\0"
    code, _ = s.rpc.error("ioe_lvol_set_property", {"name": "r0", "property": "shared",
                                                    "value": "maybe"})
    assert code == -32602
    # Persisted: still there after an export/import; the replica is not re-shared.
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(name="p0"))
    s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[f"aio://{s.img}"]))
    x, order = s.xattrs("r0")
    assert order == ["name", "uuid", "entity_id", "shared", "allowed-hosts"]
    assert x["entity_id"] == b"vol-42\0" and x["allowed-hosts"] == b"nqn.a,nqn.b\0"
    [r2] = s.list()
    assert r2.entity_id == "vol-42" and r2.share == common_pb2.NONE
    e = grpc_error(s.replica.SetReplicaEntityId, replica_pb2.SetReplicaEntityIdRequest(
        uuid=str(uuidlib.uuid4()), entity_id="x"))
    assert e.code() == NOT_FOUND


# ---- v0 -------------------------------------------------------------------------------

def test_v0_replicas(s):
    e = grpc_error(s.v0.CreateReplica, mayastor_pb2.CreateReplicaRequest(
        uuid="v0r", pool="nope", size=8 * MiB))
    assert e.code() == INVALID and "nope" in e.details()
    r = s.v0.CreateReplica(mayastor_pb2.CreateReplicaRequest(uuid="v0r", pool="p0",
                                                             size=8 * MiB, thin=True))
    assert r.uuid == "v0r" and r.pool == "p0" and r.thin and r.size == 8 * MiB
    assert r.share == mayastor_pb2.REPLICA_NONE and r.uri.startswith("bdev:///v0r?uuid=")
    # Idempotent by name (even with other parameters).
    assert s.v0.CreateReplica(mayastor_pb2.CreateReplicaRequest(
        uuid="v0r", pool="p0", size=16 * MiB)) == r
    e = grpc_error(s.v0.CreateReplica, mayastor_pb2.CreateReplicaRequest(
        uuid="x", pool="p0", size=8 * MiB, share=mayastor_pb2.REPLICA_ISCSI))
    assert e.code() == INVALID
    u = str(uuidlib.uuid4())
    r2 = s.v0.CreateReplicaV2(mayastor_pb2.CreateReplicaRequestV2(
        name="v2r", uuid=u, pool="p0", size=4 * MiB))
    assert r2.name == "v2r" and r2.uuid == u and r2.usage.num_allocated_clusters == 1
    assert s.v0.CreateReplicaV2(mayastor_pb2.CreateReplicaRequestV2(
        name="v2r", uuid=u, pool="p0", size=4 * MiB)) == r2
    assert [x.uuid for x in s.v0.ListReplicas(mayastor_pb2.Null()).replicas] == ["v0r", "v2r"]
    assert list(s.v0.ListReplicasV2(mayastor_pb2.Null()).replicas)[1] == r2
    s.rpc.write("v2r", 0, pattern(1, 8192))
    s.rpc.read("v2r", 0, 4096)
    stats = {x.uuid: x for x in s.v0.StatReplicas(mayastor_pb2.Null()).replicas}
    assert stats["v2r"].pool == "p0"
    assert stats["v2r"].stats.num_write_ops == 1 and stats["v2r"].stats.bytes_written == 8192
    assert stats["v2r"].stats.num_read_ops == 1 and stats["v2r"].stats.bytes_read == 4096
    s.v0.DestroyReplica(mayastor_pb2.DestroyReplicaRequest(uuid="v0r"))
    s.v0.DestroyReplica(mayastor_pb2.DestroyReplicaRequest(uuid="v0r"))  # unknown: fine
    assert [x.name for x in s.list()] == ["v2r"]


# ---- JSON-RPC -------------------------------------------------------------------------

def test_jsonrpc_lvols(s):
    rpc = s.rpc
    name = rpc("bdev_lvol_create", {"lvol_name": "j0", "size_in_mib": 6, "lvs_name": "p0",
                                    "thin_provision": True})
    assert name == "j0"
    assert rpc("bdev_lvol_create", {"lvol_name": "j1", "size": 4 * MiB, "uuid": s.p.uuid}) == "j1"
    lvols = rpc("bdev_lvol_get_lvols", {"lvs_name": "p0"})
    assert [(l["name"], l["alias"], l["is_thin_provisioned"]) for l in lvols] == [
        ("j0", "p0/j0", True), ("j1", "p0/j1", False)]
    assert lvols[0]["lvs"] == {"name": "p0", "uuid": s.p.uuid}
    [r] = s.list(name="j0")
    assert r.size == 8 * MiB and r.thin and lvols[0]["uuid"] == r.uuid
    rpc("bdev_lvol_resize", {"name": "p0/j0", "size_in_mib": 12})
    assert s.list(name="j0")[0].size == 12 * MiB
    rpc("bdev_lvol_delete", {"name": "j1"})
    assert [l["name"] for l in rpc("bdev_lvol_get_lvols")] == ["j0"]
    # Errors, with SPDK's codes.
    assert rpc.error("bdev_lvol_create", {"lvol_name": "j0", "size_in_mib": 4,
                                          "lvs_name": "p0"})[0] == -17
    assert rpc.error("bdev_lvol_create", {"lvol_name": "x", "size_in_mib": 4,
                                          "lvs_name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_lvol_create", {"lvol_name": "x", "size_in_mib": 4})[0] == -32602
    assert rpc.error("bdev_lvol_create", {"lvol_name": "x", "lvs_name": "p0"})[0] == -32602
    assert rpc.error("bdev_lvol_create", {"lvol_name": "x", "size_in_mib": 1 << 30,
                                          "lvs_name": "p0"})[0] == -32602
    assert rpc.error("bdev_lvol_delete", {"name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_lvol_resize", {"name": "nope", "size_in_mib": 4})[0] == ENODEV
    assert rpc.error("ioe_lvol_get_xattrs", {"name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_lvol_get_lvols", {"lvs_name": "nope"})[0] == ENODEV


# ---- persistence across a restart -------------------------------------------------------

def test_replicas_survive_restart(engine_factory, tmp_path):
    img = make_image(tmp_path / "r.img")
    e = engine_factory()
    st = Stubs(e)
    st.create_pool("p0", f"aio://{img}")
    made = [st.create(f"r{i}", "p0", (i + 1) * 4 * MiB, thin=bool(i % 2), entity_id=f"e{i}")
            for i in range(4)]
    for i in range(4):
        st.rpc.write(f"r{i}", i * 4096, pattern(i, 4096))
    before = st.list()
    st.close()
    assert e.stop() == 0
    e2 = engine_factory()
    st = Stubs(e2)
    try:
        st.create_pool("p0", f"aio://{img}")
        after = st.list()
        assert [(r.name, r.uuid, r.size, r.thin, r.entity_id) for r in after] == \
            [(r.name, r.uuid, r.size, r.thin, r.entity_id) for r in made]
        assert [r.usage for r in after] == [r.usage for r in before]
        for i in range(4):
            assert st.rpc.read(f"r{i}", i * 4096, 4096) == pattern(i, 4096)
    finally:
        st.close()


# ---- 1000 replicas ----------------------------------------------------------------------

def test_thousand_replicas(engine_factory, tmp_path):
    img = make_image(tmp_path / "big.img", 4 << 30)
    e = engine_factory()
    st = Stubs(e)
    try:
        st.create_pool("big", f"aio://{img}", cluster_size=MiB)
        n = 1000
        t0 = time.monotonic()
        uuids = [st.create(f"r{i:04d}", "big", MiB, thin=True).uuid for i in range(n)]
        t1 = time.monotonic()
        reps = st.replica.ListReplicas(replica_pb2.ListReplicaOptions(), timeout=30).replicas
        t2 = time.monotonic()
        assert [r.uuid for r in reps] == uuids
        v0 = st.v0.ListReplicasV2(mayastor_pb2.Null(), timeout=30).replicas
        assert len(v0) == n
        p = st.pool.ListPools(pool_pb2.ListPoolOptions()).pools[0]
        assert p.committed == n * MiB
        # Through an export/import with all of them.
        t3 = time.monotonic()
        st.pool.ExportPool(pool_pb2.ExportPoolRequest(name="big"), timeout=60)
        st.pool.ImportPool(pool_pb2.ImportPoolRequest(name="big", disks=[f"aio://{img}"]),
                           timeout=60)
        t4 = time.monotonic()
        assert len(st.list()) == n
        t5 = time.monotonic()
        for u in uuids:
            st.destroy(u)
        t6 = time.monotonic()
        assert st.list() == []
        print(f"\n1000 replicas: create {t1 - t0:.2f}s ({(t1 - t0) / n * 1000:.2f} ms each), "
              f"list {t2 - t1:.3f}s, export+import {t4 - t3:.2f}s, "
              f"destroy {t6 - t5:.2f}s ({(t6 - t5) / n * 1000:.2f} ms each)")
    finally:
        st.close()


# ---- CLI ------------------------------------------------------------------------------

def cli(engine, *args):
    return subprocess.run([CLIENT, "-b", engine.endpoint] + list(args), capture_output=True,
                          text=True, timeout=30)


def test_cli_replica_commands(engine, s):
    r = cli(engine, "replica", "list")
    assert r.returncode == 0 and "No replicas found" in r.stdout
    u = str(uuidlib.uuid4())
    r = cli(engine, "replica", "create", "cr", u, "--pool", "p0", "--size", "10MiB", "--thin",
            "--entity-id", "vol-1")
    assert r.returncode == 0, r.stderr
    assert "cr" in r.stdout and u in r.stdout and "12.0 MiB" in r.stdout and "vol-1" in r.stdout
    r = cli(engine, "-o", "json", "replica", "list", "--pool", "p0")
    [j] = json.loads(r.stdout)["replicas"]
    assert j["uuid"] == u and j["thin"] is True and j["share"] == "NONE"
    assert j["usage"]["capacity_bytes"] == 12 * MiB and j["entity_id"] == "vol-1"
    r = cli(engine, "replica", "create", "cr2", "--pool", "p0", "--size", "4M")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(cli(engine, "-o", "json", "replica", "list")
                          .stdout)["replicas"]) == 2
    r = cli(engine, "replica", "list", "--kind", "snapshot")
    assert "No replicas found" in r.stdout
    r = cli(engine, "replica", "resize", u, "32MiB")
    assert r.returncode == 0 and "32.0 MiB" in r.stdout
    r = cli(engine, "replica", "set-entity-id", u, "vol-2")
    assert r.returncode == 0 and "vol-2" in r.stdout
    r = cli(engine, "replica", "create", "x", "--pool", "nope", "--size", "4M")
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr
    r = cli(engine, "replica", "create", "x", "--pool", "p0")
    assert r.returncode == 3 and "--size" in r.stderr
    r = cli(engine, "replica", "destroy", u, "--pool", "p1")
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr
    r = cli(engine, "replica", "destroy", u, "--pool", "p0")
    assert r.returncode == 0 and r.stdout == ""
    r = cli(engine, "replica", "destroy", u)
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
