"""Pools through every control surface of the real daemon: gRPC PoolRpc (v1) and the v0
Mayastor pool methods, the SPDK-named JSON-RPC methods (bdev_lvol_*_lvstore), the -P pool
file at start, export at SIGTERM, and io-engine-client `pool`.

Covers behaviour §3 (one disk, uuid, pool type, create-or-import step by step, import,
export, destroy, grow, reported values, ListPools filters) and the error codes of §10.
Disks are sparse files in the test's tmp dir (aio:// and uring://, or a bare path)."""
import base64
import json
import os
import subprocess
import threading
import time
import uuid as uuidlib

import grpc
import pytest
from google.protobuf import wrappers_pb2

import bdev_pb2
import mayastor_pb2
import pool_pb2
import replica_pb2
from conftest import CLIENT
from lvs_helpers import MiB, LvsStubs, grpc_error, make_image

GiB = 1 << 30
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ABORTED = grpc.StatusCode.ABORTED
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED
ENODEV, EEXIST, EBUSY = -19, -17, -16


# ---- helpers ------------------------------------------------------------------------

class Stubs(LvsStubs):
    def create(self, name, disk, **kw):
        if "uuid" in kw and isinstance(kw["uuid"], str):
            kw["uuid"] = wrappers_pb2.StringValue(value=kw["uuid"])
        return self.pool.CreatePool(pool_pb2.CreatePoolRequest(name=name, disks=[disk], **kw))

    def import_(self, name, disk, **kw):
        if "uuid" in kw and isinstance(kw["uuid"], str):
            kw["uuid"] = wrappers_pb2.StringValue(value=kw["uuid"])
        return self.pool.ImportPool(pool_pb2.ImportPoolRequest(name=name, disks=[disk], **kw))

    def export(self, name):
        return self.pool.ExportPool(pool_pb2.ExportPoolRequest(name=name))

    def destroy(self, name):
        return self.pool.DestroyPool(pool_pb2.DestroyPoolRequest(name=name))

    def pools(self, **kw):
        for k in ("name", "uuid"):
            if k in kw:
                kw[k] = wrappers_pb2.StringValue(value=kw[k])
        if "pooltype" in kw:
            kw["pooltype"] = pool_pb2.PoolTypeValue(value=kw["pooltype"])
        return list(self.pool.ListPools(pool_pb2.ListPoolOptions(**kw)).pools)

    def replica_create(self, name, pool, size, **kw):
        kw.setdefault("uuid", str(uuidlib.uuid4()))
        return self.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
            name=name, pooluuid=pool, size=size, **kw))

    def bdev_names(self):
        return {b.name for b in self.bdev.List(bdev_pb2.ListBdevOptions()).bdevs}


@pytest.fixture
def s(engine):
    st = Stubs(engine)
    yield st
    st.close()


@pytest.fixture
def img(tmp_path):
    return make_image(tmp_path / "disk0.img")


@pytest.fixture
def img2(tmp_path):
    return make_image(tmp_path / "disk1.img")


def pattern(seed, n):
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


# ---- create ---------------------------------------------------------------------------

def test_create_pool_reports_upstream_fields(s, img):
    p = s.create("p0", f"aio://{img}")
    assert p.name == "p0"
    assert str(uuidlib.UUID(p.uuid)) == p.uuid  # random, lower case
    assert p.state == pool_pb2.POOL_ONLINE
    assert p.pooltype == pool_pb2.Lvs
    assert len(p.disks) == 1
    assert p.disks[0].startswith(f"aio://{img}?uuid="), p.disks
    assert p.cluster_size == 4 * MiB
    assert p.HasField("page_size") and p.page_size == 4096
    assert p.disk_capacity == 256 * MiB
    assert 0 < p.capacity <= p.disk_capacity and p.capacity % p.cluster_size == 0
    assert p.used == 0 and p.committed == 0
    assert p.HasField("md_info")
    assert p.md_info.md_page_size == 4096
    assert p.md_info.md_pages > 0 and 1 <= p.md_info.md_used_pages <= p.md_info.md_pages
    # The disk is a device claimed by the pool (module "lvol", as upstream).
    disk = [b for b in s.bdev.List(bdev_pb2.ListBdevOptions()).bdevs if b.name == img][0]
    assert disk.claimed and disk.claimed_by == "lvol"
    assert s.pools() == [p]


def test_create_pool_uuid_cluster_size_and_bare_path(s, img, img2):
    want = str(uuidlib.uuid4())
    p = s.create("p0", img, uuid=want.upper(), cluster_size=8 * MiB)
    assert p.uuid == want and p.cluster_size == 8 * MiB
    assert p.disks[0].startswith(f"aio://{img}?"), "a bare path means aio://"
    q = s.create("p1", f"uring://{img2}", cluster_size=MiB)
    assert q.cluster_size == MiB and q.disks[0].startswith(f"uring://{img2}?uuid=")
    # An explicit cluster size of 0 is the default, as upstream.
    s.destroy("p1")
    q = s.create("p1", f"uring://{img2}", cluster_size=0)
    assert q.cluster_size == 4 * MiB


def test_md_resv_ratio_reserves_more_metadata(s, img, img2):
    a = s.create("pa", f"aio://{img}")
    b = s.create("pb", f"aio://{img2}",
                 md_args=pool_pb2.PoolMetadataArgs(md_resv_ratio=4.0))
    assert b.md_info.md_pages > a.md_info.md_pages
    assert b.capacity <= a.capacity


@pytest.mark.parametrize("req,code,needle", [
    (dict(name="p", disks=[]), INVALID, "missing devices"),
    (dict(name="p", disks=["malloc:///a?size_mb=64", "malloc:///b?size_mb=64"]), INVALID,
     "devices"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"], uuid=wrappers_pb2.StringValue(value="x")),
     INVALID, "uuid"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"], pooltype=pool_pb2.Lvm), PRECONDITION,
     "enable-lvm"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"], pooltype=7), INVALID, "pooltype"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"], cluster_size=MiB + 4096), INVALID,
     "cluster"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"], cluster_size=2 * GiB), INVALID, "cluster"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"],
          md_args=pool_pb2.PoolMetadataArgs(md_resv_ratio=0)), INVALID, "md_resv_ratio"),
    (dict(name="p", disks=["malloc:///a?size_mb=64"],
          md_args=pool_pb2.PoolMetadataArgs(md_resv_ratio=-1.5)), INVALID, "md_resv_ratio"),
    (dict(name="p", disks=["nope:///x"]), INVALID, "scheme"),
    (dict(name="p", disks=["aio:///nonexistent/dir/disk.img"]), NOT_FOUND, ""),
    (dict(name="", disks=["malloc:///a?size_mb=64"]), INVALID, "name"),
    (dict(name="n" * 64, disks=["malloc:///a?size_mb=64"]), INVALID, "name"),
])
def test_create_pool_errors(s, req, code, needle):
    e = grpc_error(s.pool.CreatePool, pool_pb2.CreatePoolRequest(**req))
    assert e.code() == code, e.details()
    assert needle in e.details()
    # Nothing is left behind: no pool, and a disk device made by the call is gone again.
    assert s.pools() == []
    assert "a" not in s.bdev_names()


def test_lvm_with_enable_lvm_is_a_clear_error(engine_factory):
    e = engine_factory("--enable-lvm")
    st = Stubs(e)
    try:
        err = grpc_error(st.pool.CreatePool, pool_pb2.CreatePoolRequest(
            name="p", disks=["malloc:///a?size_mb=64"], pooltype=pool_pb2.Lvm))
        assert err.code() == UNIMPLEMENTED and "LVM" in err.details()
        err = grpc_error(st.pool.ImportPool, pool_pb2.ImportPoolRequest(
            name="p", disks=["malloc:///a?size_mb=64"], pooltype=pool_pb2.Lvm))
        assert err.code() == UNIMPLEMENTED
    finally:
        st.close()


def test_create_existing_name(s, img, img2):
    s.create("p0", f"aio://{img}")
    # Same name, same disk: ALREADY_EXISTS; another disk: INVALID_ARGUMENT.
    assert grpc_error(s.create, "p0", f"aio://{img}").code() == EXISTS
    assert grpc_error(s.create, "p0", img).code() == EXISTS
    assert grpc_error(s.create, "p0", f"aio://{img2}").code() == INVALID
    # Another name on the disk that p0 holds: the disk is in use.
    e = grpc_error(s.create, "p1", f"aio://{img}")
    assert e.code() == INVALID and "in use" in e.details()
    assert [p.name for p in s.pools()] == ["p0"]


def test_create_on_existing_device(s):
    # A device made beforehand is used as is ("already existing bdev is fine").
    s.bdev.Create(bdev_pb2.CreateBdevRequest(uri="malloc:///m0?size_mb=64"))
    p = s.create("p0", "malloc:///m0?size_mb=64")
    assert p.disk_capacity == 64 * MiB
    s.export("p0")
    # Export destroys the disk device through its creation URI, as upstream.
    assert "m0" not in s.bdev_names()


def test_create_or_import(s, img):
    p = s.create("p0", f"aio://{img}")
    r = s.replica_create("r0", "p0", 8 * MiB)
    s.rpc.write("r0", 0, pattern(1, 8192))
    s.export("p0")
    assert s.pools() == [] and img not in s.bdev_names() and "r0" not in s.bdev_names()

    # A disk holding a pool of another name: refused, unloaded again, device destroyed.
    e = grpc_error(s.create, "other", f"aio://{img}")
    assert e.code() == INVALID and "different name" in e.details() and "p0" in e.details()
    assert s.pools() == [] and img not in s.bdev_names()
    # The requested uuid must match the pool's.
    e = grpc_error(s.create, "p0", f"aio://{img}", uuid=str(uuidlib.uuid4()))
    assert e.code() == INVALID and "uuid" in e.details()
    assert s.pools() == []

    # Same name: imported as is (create parameters are ignored), data kept.
    q = s.create("p0", f"aio://{img}", uuid=p.uuid, cluster_size=8 * MiB)
    assert q.uuid == p.uuid and q.cluster_size == 4 * MiB and q.used == p.used + 8 * MiB
    reps = s.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas
    assert [(x.name, x.uuid) for x in reps] == [("r0", r.uuid)]
    assert s.rpc.read("r0", 0, 8192) == pattern(1, 8192)


def test_import_pool(s, img, img2):
    e = grpc_error(s.import_, "p0", f"aio://{img}")
    assert e.code() == INVALID and "no pool" in e.details()
    assert img not in s.bdev_names()
    p = s.create("p0", f"aio://{img}")
    assert grpc_error(s.import_, "p0", f"aio://{img}").code() == EXISTS
    assert grpc_error(s.import_, "p0", f"aio://{img2}").code() == INVALID
    s.export("p0")
    assert grpc_error(s.import_, "p1", f"aio://{img}").code() == INVALID
    assert grpc_error(s.import_, "p0", f"aio://{img}",
                      uuid=str(uuidlib.uuid4())).code() == INVALID
    assert grpc_error(s.import_, "p0", f"aio://{img}", uuid="bad").code() == INVALID
    e = grpc_error(s.pool.ImportPool, pool_pb2.ImportPoolRequest(name="p0"))
    assert e.code() == INVALID and "missing devices" in e.details()
    e = grpc_error(s.pool.ImportPool, pool_pb2.ImportPoolRequest(
        name="p0", disks=[img], pooltype=pool_pb2.Lvm))
    assert e.code() == PRECONDITION
    q = s.import_("p0", f"aio://{img}", uuid=p.uuid)
    assert q.uuid == p.uuid and q.capacity == p.capacity


def test_export_destroy_not_found(s, img):
    for fn, req in ((s.pool.ExportPool, pool_pb2.ExportPoolRequest),
                    (s.pool.DestroyPool, pool_pb2.DestroyPoolRequest),
                    (s.pool.GrowPool, pool_pb2.GrowPoolRequest)):
        assert grpc_error(fn, req(name="nope")).code() == NOT_FOUND
    p = s.create("p0", f"aio://{img}")
    wrong = wrappers_pb2.StringValue(value=str(uuidlib.uuid4()))
    for fn, req in ((s.pool.ExportPool, pool_pb2.ExportPoolRequest),
                    (s.pool.DestroyPool, pool_pb2.DestroyPoolRequest),
                    (s.pool.GrowPool, pool_pb2.GrowPoolRequest)):
        assert grpc_error(fn, req(name="p0", uuid=wrong)).code() == NOT_FOUND
    s.pool.ExportPool(pool_pb2.ExportPoolRequest(
        name="p0", uuid=wrappers_pb2.StringValue(value=p.uuid)))
    assert s.pools() == []


def test_destroy_pool(s, img):
    s.create("p0", f"aio://{img}")
    s.replica_create("r0", "p0", 8 * MiB)
    s.replica_create("r1", "p0", 8 * MiB, thin=True)
    s.destroy("p0")
    assert s.pools() == []
    names = s.bdev_names()
    assert not {"r0", "r1", img} & names
    # The pool is gone from the disk too.
    e = grpc_error(s.import_, "p0", f"aio://{img}")
    assert e.code() == INVALID and "no pool" in e.details()
    # And the disk can take a new one.
    assert s.create("p0", f"aio://{img}").used == 0


def test_list_pools_filters(s, img, img2):
    a = s.create("pa", f"aio://{img}")
    b = s.create("pb", f"aio://{img2}")
    assert [p.name for p in s.pools()] == ["pa", "pb"]
    assert s.pools(name="pb") == [b]
    assert s.pools(uuid=a.uuid) == [a]
    assert s.pools(name="pa", uuid=b.uuid) == []
    assert s.pools(name="nope") == [] and s.pools(uuid="not-a-uuid") == []
    assert len(s.pools(pooltype=pool_pb2.Lvs)) == 2
    assert s.pools(pooltype=pool_pb2.Lvm) == []
    assert grpc_error(s.pools, pooltype=9).code() == INVALID


def test_reported_usage_follows_replicas(s, img):
    s.create("p0", f"aio://{img}")
    s.replica_create("thick", "p0", 10 * MiB)          # rounded up to 3 clusters
    s.replica_create("thin", "p0", 100 * MiB, thin=True)
    p = s.pools()[0]
    # aio disks have no UNMAP: the first 8 MiB of every new replica are zeroed, which
    # allocates 2 clusters of the thin one too (on-disk format §11.6).
    assert p.used == 12 * MiB + 8 * MiB
    assert p.committed == 12 * MiB + 100 * MiB
    s.rpc.write("thin", 50 * MiB, pattern(2, 4096))
    assert s.pools()[0].used == 24 * MiB


def test_grow_pool(s, tmp_path):
    img = make_image(tmp_path / "g.img", 128 * MiB)
    p = s.create("p0", f"aio://{img}")
    assert p.disk_capacity == 128 * MiB
    with open(img, "r+b") as f:
        f.truncate(512 * MiB)
    r = s.pool.GrowPool(pool_pb2.GrowPoolRequest(name="p0"))
    assert r.previous_pool.capacity == p.capacity
    assert r.current_pool.disk_capacity == 512 * MiB
    assert r.current_pool.capacity > p.capacity
    assert s.pools()[0].capacity == r.current_pool.capacity
    # Nothing changed: both the same, still success.
    r2 = s.pool.GrowPool(pool_pb2.GrowPoolRequest(name="p0"))
    assert r2.previous_pool.capacity == r2.current_pool.capacity == r.current_pool.capacity
    # The grown pool survives an export/import.
    s.export("p0")
    assert s.import_("p0", f"aio://{img}").capacity == r.current_pool.capacity


# ---- the on-disk image: docs/on-disk-format.md §11 ------------------------------------

X_UUID = "6c7a1e2f-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
R1_UUID = "11111111-2222-4333-8444-555555555555"
R2_UUID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def page(path, n):
    with open(path, "rb") as f:
        f.seek(n * 4096)
        return f.read(4096)


def crc_of(pg):
    return int.from_bytes(pg[0xFFC:0x1000], "little")


@pytest.mark.parametrize("disk,blk", [("uring", 512), ("uring", 4096), ("aio", 512)])
def test_on_disk_image_is_the_worked_example(s, tmp_path, disk, blk):
    """The pool of §11.1 made through gRPC, exported, is byte-for-byte §11.3 (UNMAP disk,
    here uring), §11.5 (4096-byte blocks) or §11.6 (no UNMAP, here aio): checked through
    every metadata page's CRC, the masks and the super block fields."""
    img = make_image(tmp_path / "ex.img", 64 * MiB)
    s.create("pool1", f"{disk}://{img}?blk_size={blk}", uuid=X_UUID)
    s.replica_create("r1", "pool1", 8 * MiB, uuid=R1_UUID, thin=True)
    s.replica_create("r2", "pool1", 8 * MiB, uuid=R2_UUID)
    s.export("pool1")
    sb = page(img, 0)
    assert sb[0:8] == b"SPDKBLOB" and sb[0x10] == 1  # clean
    assert sb[0x14:0x1C] == (0x100000000).to_bytes(8, "little")
    assert sb[0x38:0x48] == b"LVOLSTORE" + b"\0" * 7
    assert int.from_bytes(sb[0x58:0x5C], "little") == blk
    assert crc_of(sb) == (0x33FF2265 if blk == 512 else 0xFF053E29)
    assert crc_of(page(img, 4)) == 0x0804437A  # md page 0: the super blob
    if disk == "uring":  # §11.3
        masks = (b"\x00\x10\x00\x00\x00\x0f", b"\x01\x10\x00\x00\x00\x07",
                 b"\x02\x10\x00\x00\x00\x07")
        crcs = {5: 0xFD9B2E4E, 6: 0xC6CCE74A, 7: 0x4E31D53A}
    else:  # §11.6
        masks = (b"\x00\x10\x00\x00\x00\x1f", b"\x01\x10\x00\x00\x00\x1f",
                 b"\x02\x10\x00\x00\x00\x0b")
        crcs = {5: 0x124998FD, 6: 0xF2C34876, 7: 0x5591E537, 8: 0xF78EBCE1}
    for i, m in enumerate(masks):
        pg = page(img, 1 + i)
        assert pg[:6] == m and pg[6:] == bytes(4090), (i, pg[:8].hex())
    for n, crc in crcs.items():
        assert crc_of(page(img, n)) == crc, (n, hex(crc_of(page(img, n))))
    for n in range(4 + 1 + len(crcs), 20):
        assert page(img, n) == bytes(4096), n
    # And it imports back as the same pool.
    p = s.import_("pool1", f"{disk}://{img}?blk_size={blk}")
    assert p.uuid == X_UUID
    assert [(r.name, r.uuid, r.thin) for r in s.replica.ListReplicas(
        replica_pb2.ListReplicaOptions()).replicas] == [("r1", R1_UUID, True),
                                                        ("r2", R2_UUID, False)]


# ---- persistence: export/import and restart -------------------------------------------

def test_data_survives_export_import_and_restart(engine_factory, tmp_path):
    img = make_image(tmp_path / "p.img")
    e = engine_factory()
    st = Stubs(e)
    p = st.create("p0", f"aio://{img}")
    r = st.replica_create("r0", "p0", 16 * MiB, thin=True, entity_id="vol-1")
    chunks = {0: pattern(3, 4096), 4 * MiB - 2048: pattern(4, 8192), 15 * MiB: pattern(5, 65536)}
    for off, data in chunks.items():
        st.rpc.write("r0", off, data)
    st.export("p0")
    st.import_("p0", f"aio://{img}")
    for off, data in chunks.items():
        assert st.rpc.read("r0", off, len(data)) == data
    st.close()
    assert e.stop() == 0  # SIGTERM exports the pool
    assert "pool p0 exported" in e.output()

    e2 = engine_factory()
    st = Stubs(e2)
    try:
        assert st.pools() == []
        q = st.create("p0", f"aio://{img}")  # create-or-import: imports
        assert q.uuid == p.uuid
        reps = st.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas
        assert len(reps) == 1 and reps[0].uuid == r.uuid and reps[0].entity_id == "vol-1"
        assert reps[0].thin and reps[0].size == 16 * MiB
        for off, data in chunks.items():
            assert st.rpc.read("r0", off, len(data)) == data
    finally:
        st.close()


def test_pool_file_at_start(engine_factory, tmp_path):
    img = make_image(tmp_path / "pf.img")
    pf = tmp_path / "pools.yaml"
    pf.write_text(f"pools:\n  - name: filepool\n    disks: ['aio://{img}']\n    backend: Lvs\n"
                  f"  - name: lvmpool\n    disks: ['/dev/nonexistent']\n    backend: Lvm\n"
                  f"  - name: badpool\n    disks: ['aio:///nonexistent/x.img']\n")
    e = engine_factory("-P", str(pf))
    st = Stubs(e)
    p = st.pools()
    assert [x.name for x in p] == ["filepool"]
    st.replica_create("r0", "filepool", 8 * MiB)
    st.rpc.write("r0", 4096, pattern(9, 4096))
    st.close()
    assert e.stop() == 0
    out = e.output()
    assert "lvmpool" in out and "badpool" in out  # failures are logged, start goes on

    e2 = engine_factory("-P", str(pf))
    st = Stubs(e2)
    try:
        q = st.pools()
        assert [(x.name, x.uuid) for x in q] == [("filepool", p[0].uuid)]
        assert st.rpc.read("r0", 4096, 4096) == pattern(9, 4096)
    finally:
        st.close()


# ---- v0 -------------------------------------------------------------------------------

def test_v0_pools(s, img, img2):
    e = grpc_error(s.v0.CreatePool, mayastor_pb2.CreatePoolRequest(name="p0"))
    assert e.code() == INVALID and "Missing devices" in e.details()
    p = s.v0.CreatePool(mayastor_pb2.CreatePoolRequest(name="p0", disks=[f"aio://{img}"]))
    assert p.name == "p0" and p.state == mayastor_pb2.POOL_ONLINE
    assert p.disks[0].startswith(f"aio://{img}?uuid=") and p.capacity > 0 and p.used == 0
    # v0 create is idempotent on the same disk; another disk is an error.
    assert s.v0.CreatePool(mayastor_pb2.CreatePoolRequest(name="p0", disks=[img])) == p
    assert grpc_error(s.v0.CreatePool, mayastor_pb2.CreatePoolRequest(
        name="p0", disks=[f"aio://{img2}"])).code() == INVALID
    assert list(s.v0.ListPools(mayastor_pb2.Null()).pools) == [p]
    s.v0.DestroyPool(mayastor_pb2.DestroyPoolRequest(name="p0"))
    s.v0.DestroyPool(mayastor_pb2.DestroyPoolRequest(name="p0"))  # unknown: fine
    assert list(s.v0.ListPools(mayastor_pb2.Null()).pools) == []


# ---- JSON-RPC -------------------------------------------------------------------------

def test_jsonrpc_lvstores(s):
    rpc = s.rpc
    rpc("bdev_malloc_create", {"name": "m0", "num_blocks": 131072, "block_size": 512})
    assert rpc("bdev_lvol_get_lvstores") == []
    u = rpc("bdev_lvol_create_lvstore", {"bdev_name": "m0", "lvs_name": "lvs0",
                                         "cluster_sz": 2 * MiB})
    assert str(uuidlib.UUID(u)) == u
    [st] = rpc("bdev_lvol_get_lvstores")
    assert set(st) == {"uuid", "name", "base_bdev", "total_data_clusters", "free_clusters",
                       "block_size", "cluster_size"}
    assert st["uuid"] == u and st["name"] == "lvs0" and st["base_bdev"] == "m0"
    assert st["cluster_size"] == 2 * MiB and st["block_size"] == 512
    assert st["free_clusters"] == st["total_data_clusters"] > 0
    assert rpc("bdev_lvol_get_lvstores", {"lvs_name": "lvs0"}) == [st]
    assert rpc("bdev_lvol_get_lvstores", {"uuid": u}) == [st]
    assert rpc.error("bdev_lvol_get_lvstores", {"lvs_name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_lvol_get_lvstores", {"lvs_name": "lvs0", "uuid": u})[0] == -32602
    # The same pool through gRPC; its disk is reported as a reference.
    [p] = s.pools()
    assert p.uuid == u and p.disks[0].startswith("malloc:///m0")
    # Errors: name taken, unknown device, device in use, bad values.
    assert rpc.error("bdev_lvol_create_lvstore", {"bdev_name": "m0", "lvs_name": "lvs0"})[0] \
        == EEXIST
    assert rpc.error("bdev_lvol_create_lvstore", {"bdev_name": "zz", "lvs_name": "x"})[0] == ENODEV
    assert rpc.error("bdev_lvol_create_lvstore", {"bdev_name": "m0", "lvs_name": "x"})[0] == EBUSY
    assert rpc.error("bdev_lvol_create_lvstore", {"bdev_name": "m0"})[0] == -32602
    assert rpc.error("bdev_lvol_create_lvstore", {"bdev_name": "m0", "lvs_name": "y",
                                                  "clear_method": "unmap"})[0] == -32602
    # Delete keeps the base device, as SPDK does.
    rpc("bdev_lvol_delete_lvstore", {"lvs_name": "lvs0"})
    assert rpc("bdev_lvol_get_lvstores") == []
    assert "m0" in s.bdev_names()
    assert rpc.error("bdev_lvol_delete_lvstore", {"uuid": u})[0] == ENODEV
    # Formatting always creates (even over an existing pool).
    u2 = rpc("bdev_lvol_create_lvstore", {"bdev_name": "m0", "lvs_name": "lvs1"})
    assert u2 != u


def test_pool_lock_busy_is_aborted(s, img):
    """A pool operation while another one holds the pool's lock: ABORTED (gRPC), -EBUSY
    (JSON-RPC). The JSON-RPC requests are pipelined so the second one is dispatched while
    the first is waiting for its metadata write."""
    # uring has UNMAP (new replicas allocate nothing); room for 300+ replicas' metadata.
    s.create("p0", f"uring://{img}", md_args=pool_pb2.PoolMetadataArgs(md_resv_ratio=8))
    rpc = s.rpc
    reqs = [{"jsonrpc": "2.0", "id": 100 + i, "method": "bdev_lvol_create",
             "params": {"lvol_name": f"l{i}", "size_in_mib": 4, "lvs_name": "p0",
                        "thin_provision": True}} for i in range(2)]
    rpc.send(b"".join(json.dumps(r).encode() for r in reqs))
    answers = {a["id"]: a for a in (rpc.recv(), rpc.recv())}
    assert answers[100]["result"] == "l0"
    assert answers[101]["error"]["code"] == EBUSY
    assert "lock" in answers[101]["error"]["message"]

    # gRPC: ExportPool of a pool with many replicas takes a while; replica creations on
    # that pool meanwhile are refused with ABORTED (and an export that finds the lock held
    # by a creation is ABORTED too).
    codes = set()
    for attempt in range(5):
        for i in range(300):
            rpc.send({"jsonrpc": "2.0", "id": 1000 + i, "method": "bdev_lvol_create",
                      "params": {"lvol_name": f"m{i}", "size_in_mib": 1, "lvs_name": "p0",
                                 "thin_provision": True}})
            assert "result" in rpc.recv()
        exported = {}

        def export():
            try:
                s.export("p0")
                exported["ok"] = True
            except grpc.RpcError as err:
                codes.add(err.code())

        t = threading.Thread(target=export)
        t.start()
        n = 0
        while t.is_alive() and ABORTED not in codes:
            try:
                s.replica_create(f"late{attempt}-{n}", "p0", 4 * MiB, thin=True)
            except grpc.RpcError as err:
                codes.add(err.code())
            n += 1
        t.join()
        if ABORTED in codes:
            break
        if exported:
            s.import_("p0", f"uring://{img}")
        for lv in rpc("bdev_lvol_get_lvols"):
            if lv["name"] != "l0":
                rpc("bdev_lvol_delete", {"name": lv["name"]})
    assert ABORTED in codes, codes


# ---- CLI ------------------------------------------------------------------------------

def cli(engine, *args):
    return subprocess.run([CLIENT, "-b", engine.endpoint] + list(args), capture_output=True,
                          text=True, timeout=30)


def test_cli_pool_commands(engine, tmp_path):
    img = make_image(tmp_path / "c.img", 128 * MiB)
    r = cli(engine, "pool", "list")
    assert r.returncode == 0 and "No pools found" in r.stdout
    r = cli(engine, "pool", "create", "cp", img, "--cluster-size", "2MiB")
    assert r.returncode == 0, r.stderr
    assert "cp" in r.stdout and "POOL_ONLINE" in r.stdout and "2.0 MiB" in r.stdout
    r = cli(engine, "-o", "json", "pool", "list", "cp")
    assert r.returncode == 0
    [p] = json.loads(r.stdout)["pools"]
    assert p["name"] == "cp" and p["cluster_size"] == 2 * MiB and p["pooltype"] == "Lvs"
    r = cli(engine, "pool", "create", "cp", "/nonexistent/x")
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr
    r = cli(engine, "pool", "create", "cp2", img, "--cluster-size", "lots")
    assert r.returncode == 3
    assert cli(engine, "pool", "export", "cp").returncode == 0
    assert "No pools found" in cli(engine, "pool", "list").stdout
    r = cli(engine, "pool", "import", "cp", img, "--uuid", p["uuid"])
    assert r.returncode == 0 and p["uuid"] in r.stdout
    with open(img, "r+b") as f:
        f.truncate(256 * MiB)
    r = cli(engine, "pool", "grow", "cp")
    assert r.returncode == 0 and "before" in r.stdout and "after" in r.stdout
    r = cli(engine, "-o", "json", "pool", "grow", "cp")
    g = json.loads(r.stdout)
    assert g["current_pool"]["disk_capacity"] == 256 * MiB
    r = cli(engine, "pool", "destroy", "cp")
    assert r.returncode == 0 and r.stdout == ""
    r = cli(engine, "pool", "destroy", "cp")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr
