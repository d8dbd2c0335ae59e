"""Block devices through every control surface of the real daemon: gRPC BdevRpc (v1 and
v0), the SPDK-named JSON-RPC methods (on the socket and through the gRPC JsonRpc bridge),
our diagnostic ioe_bdev_write/ioe_bdev_read, and io-engine-client `bdev`.

Covers behaviour §2 (URI schemes, their parameters and every error path, references)
and §9 (Bdev fields as upstream reports them), and that a uring/aio file device keeps
acknowledged writes across a daemon restart."""
import base64
import json
import os
import socket
import subprocess
import uuid as uuidlib

import grpc
import pytest

from jsonrpc_client import JsonRpcClient
from google.protobuf import empty_pb2, wrappers_pb2

import bdev_pb2
import bdev_pb2_grpc
import json_pb2
import json_pb2_grpc
import mayastor_pb2
import mayastor_pb2_grpc
from conftest import CLIENT

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS
ENODEV, ENOENT, EEXIST = -19, -2, -17


# ---- helpers ------------------------------------------------------------------------

Rpc = JsonRpcClient


@pytest.fixture
def rpc(engine):
    c = Rpc(engine.sock)
    yield c
    c.close()


@pytest.fixture
def v1(channel):
    return bdev_pb2_grpc.BdevRpcStub(channel)


@pytest.fixture
def v0(channel):
    return mayastor_pb2_grpc.BdevRpcStub(channel)


def create(stub, uri):
    return stub.Create(bdev_pb2.CreateBdevRequest(uri=uri), timeout=20).bdev


def destroy(stub, uri):
    stub.Destroy(bdev_pb2.DestroyBdevRequest(uri=uri), timeout=20)


def listing(stub, name=None):
    opts = bdev_pb2.ListBdevOptions()
    if name is not None:
        opts.name.CopyFrom(wrappers_pb2.StringValue(value=name))
    return {b.name: b for b in stub.List(opts, timeout=20).bdevs}


def code_of(fn, *args):
    try:
        fn(*args)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return OK, ""


def expected_uri(uri, uuid):
    if "uuid=" in uri:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}uuid={uuid}"


def check_bdev(b, uri, name, num_blocks, blk_size, product, uuid=None, aliases=None):
    """Every field of a mayastor.v1.Bdev / mayastor.Bdev as upstream fills it."""
    assert b.name == name
    assert b.uuid == str(uuidlib.UUID(b.uuid)) and b.uuid == b.uuid.lower()
    if uuid:
        assert b.uuid == uuid
    assert b.num_blocks == num_blocks
    assert b.blk_size == blk_size
    assert b.claimed is False
    assert b.claimed_by == "Orphaned"
    assert b.aliases == (aliases if aliases is not None else uri)
    assert b.uri == expected_uri(uri, b.uuid)
    assert b.product_name == product
    assert b.share_uri == f"bdev:///{name}"


def cli(*args):
    r = subprocess.run([CLIENT] + list(args), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def image(tmp_path):
    """A sparse 16 MiB file for uring:// and aio://."""
    p = tmp_path / "disk.img"
    with open(p, "wb") as f:
        f.truncate(16 << 20)
    return str(p)


# ---- v1: create / list / destroy ----------------------------------------------------

FIXED_UUID = "0b6e6e0c-3d0f-4a1e-9c43-2f7d6a1b5c11"

RAM_CASES = [
    # uri, name, num_blocks, blk_size, product, uuid
    ("malloc:///m0?size_mb=8", "m0", 16384, 512, "Malloc disk", None),
    ("malloc:///m1?size_mb=8&blk_size=4096", "m1", 2048, 4096, "Malloc disk", None),
    ("malloc:///m2?num_blocks=1000", "m2", 1000, 512, "Malloc disk", None),
    ("malloc:///m3?num_blocks=300&blk_size=4096", "m3", 300, 4096, "Malloc disk", None),
    (f"malloc:///m4?size_mb=2&uuid={FIXED_UUID}", "m4", 4096, 512, "Malloc disk", FIXED_UUID),
    ("null:///n0?size_mb=4", "n0", 8192, 512, "Null disk", None),
    ("null:///n1?num_blocks=64&blk_size=4096", "n1", 64, 4096, "Null disk", None),
    (f"null:///n2?num_blocks=64&uuid={FIXED_UUID}", "n2", 64, 512, "Null disk", FIXED_UUID),
]


@pytest.mark.parametrize("uri,name,num_blocks,blk_size,product,uuid", RAM_CASES,
                         ids=[c[1] for c in RAM_CASES])
def test_ram_create_list_destroy(v1, uri, name, num_blocks, blk_size, product, uuid):
    b = create(v1, uri)
    check_bdev(b, uri, name, num_blocks, blk_size, product, uuid)
    all_ = listing(v1)
    assert set(all_) == {name}
    check_bdev(all_[name], uri, name, num_blocks, blk_size, product, uuid)
    assert b == all_[name]
    # The name filter: by name, by alias (the creation URI), and an unknown one.
    assert list(listing(v1, name)) == [name]
    assert list(listing(v1, uri)) == [name]
    assert listing(v1, "nope") == {}
    destroy(v1, uri)
    assert listing(v1) == {}
    assert code_of(destroy, v1, uri)[0] == NOT_FOUND


def test_random_uuids_differ(v1):
    a = create(v1, "malloc:///a?size_mb=1")
    b = create(v1, "malloc:///b?size_mb=1")
    assert a.uuid != b.uuid
    # A uuid already taken is refused like a taken name.
    code, details = code_of(create, v1, f"malloc:///c?size_mb=1&uuid={a.uuid}")
    assert code == EXISTS, details


@pytest.mark.parametrize("scheme,product", [("uring", "Uring bdev"), ("aio", "AIO disk")])
def test_file_devices(v1, rpc, image, scheme, product):
    uri = f"{scheme}://{image}"
    b = create(v1, uri)
    check_bdev(b, uri, image, (16 << 20) // 512, 512, product)
    info = rpc("bdev_get_bdevs", {"name": image})[0]
    assert info["driver_specific"][scheme]["filename"] == image
    destroy(v1, uri)
    assert listing(v1) == {}
    # blk_size and a given uuid.
    uri = f"{scheme}://{image}?blk_size=4096&uuid={FIXED_UUID}"
    b = create(v1, uri)
    check_bdev(b, uri, image, (16 << 20) // 4096, 4096, product, FIXED_UUID)
    # The same file twice is the same name.
    assert code_of(create, v1, f"{scheme}://{image}")[0] == EXISTS
    destroy(v1, f"{scheme}://{image}")
    assert listing(v1) == {}


def test_destroy_needs_the_right_scheme(v1):
    create(v1, "malloc:///m0?size_mb=1")
    code, details = code_of(destroy, v1, "null:///m0")
    assert code == INVALID and "malloc" in details
    destroy(v1, "malloc:///m0")


# ---- references: bdev:/// and loopback:/// --------------------------------------------

@pytest.mark.parametrize("scheme", ["bdev", "loopback"])
def test_references(v1, scheme):
    uri = "malloc:///base?size_mb=4"
    base = create(v1, uri)
    ref = f"{scheme}:///base"
    b = create(v1, ref)
    # The reference is the existing device, with the reference added as an alias.
    assert b.name == "base" and b.uuid == base.uuid
    assert b.aliases == f"{uri},{ref}"
    assert b.uri == expected_uri(uri, base.uuid)
    # With the right uuid it is accepted too (and is one more alias).
    ref2 = f"{scheme}:///base?uuid={base.uuid}"
    assert create(v1, ref2).aliases == f"{uri},{ref},{ref2}"
    # A wrong uuid, or a device that does not exist.
    code, details = code_of(create, v1, f"{scheme}:///base?uuid={FIXED_UUID}")
    assert code == INVALID and base.uuid in details, details
    code, details = code_of(create, v1, f"{scheme}:///missing")
    assert code == NOT_FOUND and "missing" in details, details
    assert code_of(create, v1, f"{scheme}:///base?bogus=1")[0] == INVALID
    # Destroying a reference keeps the device and drops only that alias.
    destroy(v1, ref)
    destroy(v1, ref2)
    left = listing(v1)
    assert list(left) == ["base"] and left["base"].aliases == uri
    assert code_of(destroy, v1, f"{scheme}:///missing")[0] == NOT_FOUND
    destroy(v1, uri)
    assert listing(v1) == {}


# ---- error paths of §2 (v1 and v0) -------------------------------------------------------

ERRORS = [
    ("unknown scheme", "foo:///x?size_mb=1", INVALID),
    ("unknown parameter", "malloc:///m0?size_mb=1&bogus=1", INVALID),
    ("unknown parameter null", "null:///n0?size_mb=1&colour=red", INVALID),
    ("unknown parameter uring", "uring:///tmp/x?rescan", INVALID),
    ("size_mb and num_blocks", "malloc:///m0?size_mb=1&num_blocks=2048", INVALID),
    ("neither size", "malloc:///m0", INVALID),
    ("neither size null", "null:///n0?blk_size=512", INVALID),
    ("blk_size 1000", "malloc:///m0?size_mb=1&blk_size=1000", INVALID),
    ("blk_size 1000 null", "null:///n0?size_mb=1&blk_size=1000", INVALID),
    ("bad number", "malloc:///m0?size_mb=lots", INVALID),
    ("bad uuid", "malloc:///m0?size_mb=1&uuid=not-a-uuid", INVALID),
    ("no name", "malloc:///?size_mb=1", INVALID),
    ("missing file uring", "uring:///nonexistent/dir/disk.img", NOT_FOUND),
    ("missing file aio", "aio:///nonexistent/dir/disk.img", NOT_FOUND),
    ("not a URI", "just-a-name", INVALID),
    ("one slash", "malloc:/m0?size_mb=1", INVALID),
    ("bad escape", "malloc:///m%zz?size_mb=1", INVALID),
    ("space", "malloc:///m 0?size_mb=1", INVALID),
    ("empty", "", INVALID),
]


@pytest.mark.parametrize("what,uri,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_create_errors(v1, v0, what, uri, code):
    got, details = code_of(create, v1, uri)
    assert got == code, (what, got, details)
    assert details  # the layer's message travels in the status details
    try:
        v0.Create(mayastor_pb2.BdevUri(uri=uri), timeout=20)
        got0 = OK
    except grpc.RpcError as e:
        got0 = e.code()
    assert got0 == code, what
    assert listing(v1) == {}


def test_existing_name_and_unknown_destroy(v1, v0):
    create(v1, "malloc:///dup?size_mb=1")
    code, details = code_of(create, v1, "malloc:///dup?size_mb=2")
    assert code == EXISTS and "dup" in details, details
    code, details = code_of(create, v1, "null:///dup?size_mb=2")
    assert code == EXISTS, details
    with pytest.raises(grpc.RpcError) as e:
        v0.Create(mayastor_pb2.BdevUri(uri="malloc:///dup?size_mb=1"))
    assert e.value.code() == EXISTS
    for uri in ("malloc:///nope", "null:///nope", "uring:///nope/x", "aio:///nope/x"):
        code, details = code_of(destroy, v1, uri)
        assert code == NOT_FOUND and "nope" in details, (uri, details)
        with pytest.raises(grpc.RpcError) as e:
            v0.Destroy(mayastor_pb2.BdevUri(uri=uri))
        assert e.value.code() == NOT_FOUND
    for uri in ("foo:///x", "", "malloc:///"):
        assert code_of(destroy, v1, uri)[0] == INVALID, uri
    destroy(v1, "malloc:///dup")


# ---- v0 -----------------------------------------------------------------------------------

def test_v0_bdev_rpc(v0, v1, image):
    assert list(v0.List(mayastor_pb2.Null()).bdevs) == []
    uri = f"malloc:///v0m?num_blocks=2048&blk_size=4096&uuid={FIXED_UUID}"
    assert v0.Create(mayastor_pb2.BdevUri(uri=uri)).name == "v0m"
    assert v0.Create(mayastor_pb2.BdevUri(uri=f"uring://{image}")).name == image
    assert v0.Create(mayastor_pb2.BdevUri(uri="bdev:///v0m")).name == "v0m"
    got = {b.name: b for b in v0.List(mayastor_pb2.Null()).bdevs}
    assert set(got) == {"v0m", image}
    check_bdev(got["v0m"], uri, "v0m", 2048, 4096, "Malloc disk", FIXED_UUID,
               aliases=f"{uri},bdev:///v0m")
    check_bdev(got[image], f"uring://{image}", image, 32768, 512, "Uring bdev")
    # v0 and v1 describe the same devices identically.
    for name, b in listing(v1).items():
        assert b.SerializeToString() == got[name].SerializeToString()
    v0.Destroy(mayastor_pb2.BdevUri(uri="bdev:///v0m"))
    v0.Destroy(mayastor_pb2.BdevUri(uri="malloc:///v0m"))
    v0.Destroy(mayastor_pb2.BdevUri(uri=f"uring://{image}"))
    assert list(v0.List(mayastor_pb2.Null()).bdevs) == []


def test_share_and_unshare(engine, v1, v0):
    import common_pb2
    b = create(v1, "malloc:///s0?size_mb=1")
    nqn = "nqn.2019-05.io.openebs:s0"
    uri = f"nvmf://127.0.0.1:{engine.nvmf_port}/{nqn}?uuid={b.uuid}"
    r = v1.Share(bdev_pb2.BdevShareRequest(name="s0", protocol=common_pb2.NVMF))
    assert r.bdev.share_uri == uri
    assert listing(v1)["s0"].share_uri == uri
    # Sharing again replaces the allowed hosts; a bad host NQN is refused.
    v1.Share(bdev_pb2.BdevShareRequest(name="s0", protocol=common_pb2.NVMF,
                                       allowed_hosts=["nqn.2014-08.org.nvmexpress:uuid:"
                                                      "4e564d65-0000-4000-8000-0000000fea51"]))
    for req, code in ((bdev_pb2.BdevShareRequest(name="s0", protocol=common_pb2.NVMF,
                                                 allowed_hosts=["not an nqn"]),
                       grpc.StatusCode.INVALID_ARGUMENT),
                      (bdev_pb2.BdevShareRequest(name="s0", protocol=common_pb2.ISCSI),
                       grpc.StatusCode.INVALID_ARGUMENT),
                      (bdev_pb2.BdevShareRequest(name="nope", protocol=common_pb2.NVMF),
                       grpc.StatusCode.NOT_FOUND)):
        with pytest.raises(grpc.RpcError) as e:
            v1.Share(req)
        assert e.value.code() == code, e.value.details()
    v1.Unshare(bdev_pb2.BdevUnshareRequest(name="s0"))
    v1.Unshare(bdev_pb2.BdevUnshareRequest(name="s0"))  # not shared: nothing to do
    assert listing(v1)["s0"].share_uri == "bdev:///s0"
    with pytest.raises(grpc.RpcError) as e:
        v1.Unshare(bdev_pb2.BdevUnshareRequest(name="nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # v0: the reply is the URI.
    assert v0.Share(mayastor_pb2.BdevShareRequest(name="s0", proto="nvmf")).uri == uri
    with pytest.raises(grpc.RpcError) as e:
        v0.Share(mayastor_pb2.BdevShareRequest(name="s0", proto="iscsi"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    v0.Unshare(mayastor_pb2.CreateReply(name="s0"))
    assert listing(v1)["s0"].share_uri == "bdev:///s0"
    destroy(v1, "malloc:///s0")


# ---- JSON-RPC -----------------------------------------------------------------------------

BDEV_KEYS = {"name", "aliases", "product_name", "block_size", "num_blocks", "uuid",
             "assigned_rate_limits", "claimed", "zoned", "supported_io_types", "driver_specific"}
IOSTAT_KEYS = {"name", "bytes_read", "num_read_ops", "bytes_written", "num_write_ops",
               "bytes_unmapped", "num_unmap_ops", "read_latency_ticks", "max_read_latency_ticks",
               "min_read_latency_ticks", "write_latency_ticks", "max_write_latency_ticks",
               "min_write_latency_ticks", "unmap_latency_ticks", "max_unmap_latency_ticks",
               "min_unmap_latency_ticks"}


def test_methods_are_listed(rpc):
    methods = set(rpc("rpc_get_methods"))
    assert {"bdev_get_bdevs", "bdev_get_iostat", "bdev_reset_iostat", "bdev_malloc_create",
            "bdev_malloc_delete", "bdev_null_create", "bdev_null_delete", "bdev_aio_create",
            "bdev_aio_delete", "bdev_uring_create", "bdev_uring_delete", "ioe_bdev_write",
            "ioe_bdev_read", "rpc_get_methods", "spdk_get_version"} <= methods


def test_get_bdevs_shape(v1, rpc, image):
    assert rpc("bdev_get_bdevs") == []
    create(v1, f"malloc:///m0?size_mb=4&blk_size=4096&uuid={FIXED_UUID}")
    create(v1, "null:///n0?num_blocks=100")
    create(v1, f"uring://{image}")
    create(v1, "bdev:///m0")
    all_ = rpc("bdev_get_bdevs")
    assert [b["name"] for b in all_] == ["m0", "n0", image]
    for b in all_:
        assert BDEV_KEYS <= set(b), b
        assert b["claimed"] is False and "claim_type" not in b
        io = b["supported_io_types"]
        assert io["read"] and io["write"] and io["reset"] and io["write_zeroes"]
        assert io["nvme_admin"] is False and io["nvme_io"] is False
    m0 = rpc("bdev_get_bdevs", {"name": "m0"})
    assert len(m0) == 1
    m0 = m0[0]
    assert m0["uuid"] == FIXED_UUID and m0["block_size"] == 4096 and m0["num_blocks"] == 1024
    assert m0["product_name"] == "Malloc disk"
    assert m0["aliases"] == [f"malloc:///m0?size_mb=4&blk_size=4096&uuid={FIXED_UUID}",
                             "bdev:///m0"]
    assert m0["driver_specific"] == {}
    assert m0["supported_io_types"]["unmap"] and m0["supported_io_types"]["flush"]
    # Found by alias too, as SPDK does.
    assert rpc("bdev_get_bdevs", {"name": "bdev:///m0"})[0]["name"] == "m0"
    u = rpc("bdev_get_bdevs", {"name": image})[0]
    assert u["product_name"] == "Uring bdev" and u["num_blocks"] == 32768
    assert set(u["driver_specific"]) == {"uring"}
    assert u["driver_specific"]["uring"]["filename"] == image
    assert rpc.error("bdev_get_bdevs", {"name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_get_bdevs", {"nam": "m0"})[0] == -32602
    assert rpc.error("bdev_get_bdevs", {"name": 7})[0] == -32602
    assert rpc.error("bdev_get_bdevs", ["m0"])[0] == -32602
    assert rpc("bdev_get_bdevs", {"name": "m0", "timeout": 0})[0]["name"] == "m0"


def test_iostat_moves_and_resets(v1, rpc):
    create(v1, "malloc:///m0?size_mb=4")
    create(v1, "malloc:///m1?size_mb=4&blk_size=4096")
    st = rpc("bdev_get_iostat")
    assert st["tick_rate"] == 10**9 and st["ticks"] > 0
    assert [b["name"] for b in st["bdevs"]] == ["m0", "m1"]
    for b in st["bdevs"]:
        assert IOSTAT_KEYS <= set(b), b
        assert all(b[k] == 0 for k in IOSTAT_KEYS - {"name"}), b

    data = os.urandom(8192)
    assert rpc.write("m0", 4096, data) is True
    assert rpc.read("m0", 4096, 8192) == data
    assert rpc.read("m0", 0, 512) == b"\0" * 512
    assert rpc.read("m0", 0, 512) == b"\0" * 512
    s = rpc("bdev_get_iostat", {"name": "m0"})
    assert [b["name"] for b in s["bdevs"]] == ["m0"]
    m0 = s["bdevs"][0]
    assert m0["num_write_ops"] == 1 and m0["bytes_written"] == 8192
    assert m0["num_read_ops"] == 3 and m0["bytes_read"] == 8192 + 1024
    assert 0 < m0["min_read_latency_ticks"] <= m0["max_read_latency_ticks"] <= \
        m0["read_latency_ticks"]
    assert 0 < m0["min_write_latency_ticks"] <= m0["max_write_latency_ticks"] <= \
        m0["write_latency_ticks"]
    assert s["ticks"] > st["ticks"]
    # The other device did not move.
    assert rpc("bdev_get_iostat", {"name": "m1"})["bdevs"][0]["num_read_ops"] == 0

    rpc.write("m1", 0, b"x" * 4096)
    # Reset one device...
    assert rpc("bdev_reset_iostat", {"name": "m0"}) is True
    m0 = rpc("bdev_get_iostat", {"name": "m0"})["bdevs"][0]
    assert all(m0[k] == 0 for k in IOSTAT_KEYS - {"name"}), m0
    assert rpc("bdev_get_iostat", {"name": "m1"})["bdevs"][0]["num_write_ops"] == 1
    # ...then all, with SPDK's mode parameter.
    assert rpc("bdev_reset_iostat", {"mode": "all"}) is True
    for b in rpc("bdev_get_iostat")["bdevs"]:
        assert all(b[k] == 0 for k in IOSTAT_KEYS - {"name"}), b
    assert rpc.error("bdev_get_iostat", {"name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_reset_iostat", {"name": "nope"})[0] == ENODEV
    assert rpc.error("bdev_reset_iostat", {"mode": "maxmin"})[0] == -32602
    assert rpc.error("bdev_get_iostat", {"per_channel": True})[0] == -32602


def test_malloc_and_null_methods(v1, rpc):
    assert rpc("bdev_malloc_create", {"num_blocks": 256, "block_size": 512}) == "Malloc0"
    assert rpc("bdev_malloc_create", {"num_blocks": 256, "block_size": 4096}) == "Malloc1"
    name = rpc("bdev_malloc_create", {"name": "mx", "num_blocks": 100, "block_size": 4096,
                                      "uuid": FIXED_UUID})
    assert name == "mx"
    b = rpc("bdev_get_bdevs", {"name": "mx"})[0]
    assert (b["uuid"], b["block_size"], b["num_blocks"]) == (FIXED_UUID, 4096, 100)
    # The device carries the URI it was made from, as one made over gRPC does.
    g = listing(v1, "mx")["mx"]
    check_bdev(g, f"malloc:///mx?num_blocks=100&blk_size=4096&uuid={FIXED_UUID}", "mx", 100,
               4096, "Malloc disk", FIXED_UUID)
    # Names needing escapes in a URI still work.
    assert rpc("bdev_null_create", {"name": "n 1?&%", "num_blocks": 8, "block_size": 512}) == \
        "n 1?&%"
    assert rpc("bdev_get_bdevs", {"name": "n 1?&%"})[0]["product_name"] == "Null disk"
    assert rpc("bdev_null_delete", {"name": "n 1?&%"}) is True

    errors = [
        ("bdev_malloc_create", {"num_blocks": 8}, -32602),                       # no block_size
        ("bdev_malloc_create", {"block_size": 512}, -32602),                     # no num_blocks
        ("bdev_malloc_create", {"num_blocks": "8", "block_size": 512}, -32602),  # wrong type
        ("bdev_malloc_create", {"num_blocks": -8, "block_size": 512}, -32602),
        ("bdev_malloc_create", {"num_blocks": 8, "block_size": 1000}, -32602),   # §2: 512/4096
        ("bdev_malloc_create", {"num_blocks": 0, "block_size": 512}, -32602),
        ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "md_size": 8}, -32602),
        ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "uuid": "x"}, -32602),
        ("bdev_malloc_create", {"name": "", "num_blocks": 8, "block_size": 512}, -32602),
        ("bdev_malloc_create", {"name": "a/b", "num_blocks": 8, "block_size": 512}, -32602),
        ("bdev_malloc_create", {"name": "mx", "num_blocks": 8, "block_size": 512}, EEXIST),
        ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "uuid": FIXED_UUID}, EEXIST),
        ("bdev_malloc_create", None, -32602),
        ("bdev_null_create", {"num_blocks": 8, "block_size": 512}, -32602),      # name required
        ("bdev_null_create", {"name": "mx", "num_blocks": 8, "block_size": 512}, EEXIST),
        ("bdev_malloc_delete", {"name": "nope"}, ENODEV),
        ("bdev_malloc_delete", {}, -32602),
        ("bdev_null_delete", {"name": "mx"}, ENODEV),                            # not a null
        ("bdev_uring_delete", {"name": "mx"}, ENODEV),
        ("bdev_aio_delete", {"name": "mx"}, ENODEV),
    ]
    for method, params, code in errors:
        got, msg = rpc.error(method, params)
        assert got == code, (method, params, got, msg)
        assert msg
    assert rpc("bdev_malloc_delete", {"name": "mx"}) is True
    assert rpc("bdev_malloc_delete", {"name": "Malloc0"}) is True
    # Deleting by an alias finds the device, as SPDK's lookup does.
    alias = rpc("bdev_get_bdevs", {"name": "Malloc1"})[0]["aliases"][0]
    assert rpc("bdev_malloc_delete", {"name": alias}) is True
    # The counter only grows: a default name is never reused.
    name = rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512})
    assert name.startswith("Malloc") and name not in ("Malloc0", "Malloc1")
    assert rpc("bdev_malloc_delete", {"name": name}) is True
    assert rpc("bdev_get_bdevs") == []


@pytest.mark.parametrize("driver,product", [("uring", "Uring bdev"), ("aio", "AIO disk")])
def test_file_methods(rpc, image, tmp_path, driver, product):
    create_m, delete_m = f"bdev_{driver}_create", f"bdev_{driver}_delete"
    assert rpc(create_m, {"name": image, "filename": image}) == image
    b = rpc("bdev_get_bdevs", {"name": image})[0]
    assert b["product_name"] == product and b["block_size"] == 512
    assert b["aliases"] == [f"{driver}://{image}"]
    assert b["driver_specific"][driver]["filename"] == image
    assert rpc.error(create_m, {"filename": image})[0] == EEXIST
    assert rpc(delete_m, {"name": image}) is True
    assert rpc(create_m, {"filename": image, "block_size": 4096, "uuid": FIXED_UUID}) == image
    b = rpc("bdev_get_bdevs", {"name": image})[0]
    assert (b["block_size"], b["num_blocks"], b["uuid"]) == (4096, 4096, FIXED_UUID)
    other = "/x/y" if driver == "uring" else "/y/z"
    errors = [
        (create_m, {"name": "disk0", "filename": image}, -32602),  # name must be the path
        (create_m, {"filename": "relative/disk.img"}, -32602),
        (create_m, {"filename": str(tmp_path / "missing.img")}, ENOENT),
        (create_m, {"filename": image, "block_size": "4096"}, -32602),
        (create_m, {"filename": image, "bogus": 1}, -32602),
        (create_m, {}, -32602),
        (delete_m, {"name": other}, ENODEV),
    ]
    if driver == "aio":
        errors.append((create_m, {"filename": image, "readonly": True}, -32602))
    else:
        errors.append((create_m, {"filename": image, "readonly": False}, -32602))
    for method, params, code in errors:
        got, msg = rpc.error(method, params)
        assert got == code, (method, params, got, msg)
    if driver == "aio":
        # SPDK's rpc.py sends these only when true; false is accepted.
        assert rpc.error(create_m, {"filename": image, "readonly": False,
                                    "fallocate": False})[0] == EEXIST
    assert rpc(delete_m, {"name": image}) is True
    assert rpc("bdev_get_bdevs") == []


def test_ioe_read_write(v1, rpc):
    create(v1, "malloc:///m0?num_blocks=1024&blk_size=4096")
    create(v1, "null:///n0?num_blocks=64")
    data = os.urandom(4 * 4096)
    assert rpc.write("m0", 8192, data) is True
    assert rpc.read("m0", 8192, len(data)) == data
    assert rpc.read("m0", 8192 + 4096, 4096) == data[4096:8192]
    # The last block, by name and by alias.
    rpc.write("malloc:///m0?num_blocks=1024&blk_size=4096", 1023 * 4096, b"\xee" * 4096)
    assert rpc.read("m0", 1023 * 4096, 4096) == b"\xee" * 4096
    # null:// discards writes and reads zeroes.
    assert rpc.write("n0", 0, b"\xff" * 1024) is True
    assert rpc.read("n0", 0, 1024) == b"\0" * 1024
    big = os.urandom(2 << 20)
    rpc.write("m0", 0, big)
    assert rpc.read("m0", 0, 2 << 20) == big
    errors = [
        ("ioe_bdev_write", {"name": "m0", "offset": 100, "data": "AAAA"}, -32602),
        ("ioe_bdev_write", {"name": "m0", "offset": 0, "data": base64.b64encode(b"x" * 100).decode()},
         -32602),  # not a whole block
        ("ioe_bdev_write", {"name": "m0", "offset": 0, "data": "!!!!"}, -32602),
        ("ioe_bdev_write", {"name": "m0", "offset": 0, "data": "QUJD="}, -32602),
        ("ioe_bdev_write", {"name": "m0", "offset": 1024 * 4096,
                            "data": base64.b64encode(b"x" * 4096).decode()}, -32602),
        ("ioe_bdev_write", {"name": "m0", "offset": 0, "data": ""}, -32602),
        ("ioe_bdev_write", {"name": "m0", "offset": 0}, -32602),
        ("ioe_bdev_write", {"name": "nope", "offset": 0, "data": "AAAA"}, ENODEV),
        ("ioe_bdev_read", {"name": "m0", "offset": 0, "length": 100}, -32602),
        ("ioe_bdev_read", {"name": "m0", "offset": 4095, "length": 4096}, -32602),
        ("ioe_bdev_read", {"name": "m0", "offset": 1020 * 4096, "length": 8 * 4096}, -32602),
        ("ioe_bdev_read", {"name": "m0", "offset": 0, "length": 0}, -32602),
        ("ioe_bdev_read", {"name": "m0", "offset": 0, "length": (4 << 20) + 4096}, -32602),
        ("ioe_bdev_read", {"name": "nope", "offset": 0, "length": 512}, ENODEV),
        ("ioe_bdev_read", {"name": "m0", "offset": -1, "length": 512}, -32602),
    ]
    for method, params, code in errors:
        got, msg = rpc.error(method, params)
        assert got == code, (method, params, got, msg)
    # Nothing holds the device afterwards: it can be destroyed at once.
    destroy(v1, "malloc:///m0")
    destroy(v1, "null:///n0")


def test_jsonrpc_through_grpc(channel, engine):
    stub = json_pb2_grpc.JsonRpcStub(channel)

    def call(method, params=""):
        return stub.JsonRpcCall(json_pb2.JsonRpcRequest(method=method, params=params),
                                timeout=20)

    assert json.loads(call("bdev_malloc_create",
                           '{"name": "g0", "num_blocks": 64, "block_size": 512}').result) == "g0"
    assert json.loads(call("bdev_get_bdevs", '{"name": "g0"}').result)[0]["num_blocks"] == 64
    for method, params, code in [
            ("bdev_malloc_create", '{"num_blocks": 8}', INVALID),
            ("bdev_malloc_create", '{"name": "g0", "num_blocks": 8, "block_size": 512}', EXISTS),
            ("bdev_uring_create", '{"filename": "/nonexistent/x"}', NOT_FOUND),
            ("bdev_get_bdevs", '{"name": "nope"}', grpc.StatusCode.INTERNAL)]:  # -ENODEV
        with pytest.raises(grpc.RpcError) as e:
            call(method, params)
        assert e.value.code() == code, (method, e.value.details())
    # The v0 bridge too.
    v0 = mayastor_pb2_grpc.JsonRpcStub(channel)
    r = v0.JsonRpcCall(mayastor_pb2.JsonRpcRequest(method="bdev_malloc_delete",
                                                   params='{"name": "g0"}'))
    assert json.loads(r.result) is True


def test_delete_while_io_in_flight_is_busy(rpc):
    """A device with I/O in flight is open: deleting it is refused (-EBUSY), and works once
    the I/O has completed. Both requests go in one write, so the daemon handles them in the
    same loop turn, before the read can complete."""
    assert rpc("bdev_malloc_create", {"name": "busy", "num_blocks": 2048, "block_size": 512})
    reqs = [{"jsonrpc": "2.0", "id": 100, "method": "ioe_bdev_read",
             "params": {"name": "busy", "offset": 0, "length": 1 << 20}},
            {"jsonrpc": "2.0", "id": 101, "method": "bdev_malloc_delete",
             "params": {"name": "busy"}}]
    rpc.s.sendall("".join(json.dumps(r) for r in reqs).encode())
    replies = {}
    dec = json.JSONDecoder()
    while len(replies) < 2:
        text = rpc.buf.decode().lstrip()
        try:
            obj, end = dec.raw_decode(text)
            rpc.buf = text[end:].encode()
            replies[obj["id"]] = obj
            continue
        except ValueError:
            pass
        rpc.buf += rpc.s.recv(1 << 20)
    assert len(base64.b64decode(replies[100]["result"]["data"])) == 1 << 20
    assert replies[101]["error"]["code"] == -16, replies[101]
    assert "in use" in replies[101]["error"]["message"]
    assert rpc("bdev_malloc_delete", {"name": "busy"}) is True


def test_concurrent_creates_of_one_name(engine):
    import threading
    results = []

    def worker(i):
        ch = grpc.insecure_channel(engine.endpoint)
        stub = bdev_pb2_grpc.BdevRpcStub(ch)
        results.append(code_of(create, stub, f"malloc:///race?size_mb={i + 1}")[0])
        ch.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == sorted([OK] + [EXISTS] * 15, key=str)
    stub = bdev_pb2_grpc.BdevRpcStub(grpc.insecure_channel(engine.endpoint))
    assert list(listing(stub)) == ["race"]
    destroy(stub, "malloc:///race")


# ---- data survives a restart ----------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["uring", "aio"])
def test_file_data_survives_restart(engine_factory, image, scheme):
    uri = f"{scheme}://{image}?blk_size=4096"
    data = os.urandom(64 << 10)
    tail = os.urandom(4096)

    e1 = engine_factory()
    stub = bdev_pb2_grpc.BdevRpcStub(grpc.insecure_channel(e1.endpoint))
    first = create(stub, uri)
    c = Rpc(e1.sock)
    c.write(image, 1 << 20, data)
    c.write(image, (16 << 20) - 4096, tail)
    c.close()
    assert e1.stop() == 0  # SIGTERM, no destroy: the acknowledged writes must be on disk

    e2 = engine_factory()
    stub = bdev_pb2_grpc.BdevRpcStub(grpc.insecure_channel(e2.endpoint))
    second = create(stub, uri)
    assert second.name == image and second.num_blocks == first.num_blocks
    c = Rpc(e2.sock)
    assert c.read(image, 1 << 20, len(data)) == data
    assert c.read(image, (16 << 20) - 4096, 4096) == tail
    assert c.read(image, 0, 4096) == b"\0" * 4096
    c.close()
    with open(image, "rb") as f:
        f.seek(1 << 20)
        assert f.read(len(data)) == data


# ---- io-engine-client bdev ------------------------------------------------------------------

def test_cli_bdev(engine, image):
    b = ["-b", engine.endpoint]
    rc, out, err = cli(*b, "bdev", "list")
    assert rc == 0 and out.strip() == "No bdevs found", (out, err)
    rc, out, err = cli(*b, "bdev", "create", f"malloc:///c0?size_mb=8&uuid={FIXED_UUID}")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "UUID", "SIZE", "BLK_SIZE", "CLAIMED_BY", "PRODUCT",
                                "URI", "SHARE_URI"]
    row = lines[1].split()
    assert row[:3] == ["c0", FIXED_UUID, "8.0"] and row[3] == "MiB"
    assert "Orphaned" in row and "bdev:///c0" in row
    rc, out, err = cli(*b, "-o", "json", "bdev", "create", f"uring://{image}?blk_size=4096")
    assert rc == 0, err
    made = json.loads(out)["bdev"]
    assert made["name"] == image and made["blk_size"] == 4096 and made["num_blocks"] == 4096
    assert made["claimed_by"] == "Orphaned" and made["share_uri"] == f"bdev:///{image}"

    rc, out, err = cli(*b, "bdev", "list")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("c0 ") and lines[2].startswith(image)
    assert "16.0 MiB" in lines[2] and "Uring bdev" in lines[2]
    rc, out, err = cli(*b, "-o", "json", "bdev", "list")
    listed = json.loads(out)["bdevs"]
    assert [x["name"] for x in listed] == ["c0", image]
    c0 = listed[0]
    assert c0 == {"name": "c0", "uuid": FIXED_UUID, "num_blocks": 16384, "blk_size": 512,
                  "claimed": False, "claimed_by": "Orphaned",
                  "aliases": f"malloc:///c0?size_mb=8&uuid={FIXED_UUID}",
                  "uri": f"malloc:///c0?size_mb=8&uuid={FIXED_UUID}",
                  "product_name": "Malloc disk", "share_uri": "bdev:///c0"}
    rc, out, _ = cli(*b, "-o", "json", "bdev", "list", "c0")
    assert [x["name"] for x in json.loads(out)["bdevs"]] == ["c0"]
    rc, out, _ = cli(*b, "bdev", "list", "nope")
    assert rc == 0 and out.strip() == "No bdevs found"

    rc, _, err = cli(*b, "bdev", "create", "malloc:///c0?size_mb=8")
    assert rc == 1 and "ALREADY_EXISTS" in err
    rc, _, err = cli(*b, "bdev", "create", "malloc:///c1?size_mb=8&blk_size=1000")
    assert rc == 1 and "INVALID_ARGUMENT" in err and "blk_size" in err
    rc, _, err = cli(*b, "bdev", "destroy", "malloc:///nope")
    assert rc == 1 and "NOT_FOUND" in err
    rc, _, err = cli(*b, "bdev", "create")
    assert rc == 3
    rc, _, err = cli(*b, "bdev", "destroy", "a", "b")
    assert rc == 3

    rc, out, err = cli(*b, "bdev", "destroy", "malloc:///c0")
    assert rc == 0 and out == "", err
    rc, out, err = cli(*b, "-o", "json", "bdev", "destroy", f"uring://{image}")
    assert rc == 0 and json.loads(out) == {}, err
    rc, out, _ = cli(*b, "-o", "json", "bdev", "list")
    assert json.loads(out) == {"bdevs": []}
    rc, out, _ = cli("bdev", "--help")
    assert rc == 0 and "list" in out and "create" in out and "destroy" in out
