"""Command Retry Delay (behaviour §6, src/nvmf/crd.h) on a shared replica, seen by the
pure-Python NVMe/TCP host: Identify Controller reports CRDT1..3 from --tgt-crdt; a host
that enables Advanced Command Retry (Host Behavior Support, ACRE) gets CRD index 3 on
the retryable errors of a replica subsystem — a thin replica whose pool is out of space
(Capacity Exceeded, never a vendor status) and a Reservation Conflict; a host that did
not enable it gets none; errors with Do Not Retry carry no delay."""
import struct
import uuid as uuidlib

import common_pb2
import pool_pb2
import replica_pb2
import nvme_tcp as nt
from lvs_helpers import MiB, LvsStubs, make_image

HOSTS = [(f"nqn.2014-08.org.nvmexpress:uuid:0c0c0c0c-0000-4000-8000-00000000000{i}",
          bytes.fromhex(f"0c0c0c0c00004000800000000000000{i}")) for i in range(3)]
ADM_SET_FEATURES, ADM_GET_FEATURES = 0x09, 0x0A
FEAT_HOST_BEHAVIOR = 0x16
SC_CAPACITY_EXCEEDED, SC_RESV_CONFLICT, SC_LBA_RANGE = 0x081, 0x083, 0x080


def host(engine, nqn, who, acre):
    hostnqn, hostid = who
    adm = nt.Queue("127.0.0.1", engine.nvmf_port)
    adm.icreq()
    assert adm.connect(nqn, hostnqn, hostid=hostid).status == 0
    adm.enable()
    if acre:
        c, _ = adm.command(ADM_SET_FEATURES, 0, {10: FEAT_HOST_BEHAVIOR},
                           write=bytes([1]) + bytes(511))
        assert c.status == 0, str(c)
    c, d = adm.command(ADM_GET_FEATURES, 0, {10: FEAT_HOST_BEHAVIOR}, read=512)
    assert c.status == 0 and d[0] == (1 if acre else 0), str(c)
    io = nt.Queue("127.0.0.1", engine.nvmf_port)
    io.icreq()
    assert io.connect(nqn, hostnqn, qid=1, cntlid=adm.cntlid, hostid=hostid).status == 0
    return adm, io


def test_retry_delays_on_a_replica(engine_factory, tmp_path):
    engine = engine_factory("--tgt-crdt", "1,2,3")
    s = LvsStubs(engine)
    img = make_image(tmp_path / "pool.img", 48 * MiB)
    pool = s.pool.CreatePool(pool_pb2.CreatePoolRequest(name="p0", disks=[f"aio://{img}"]))
    cluster = pool.cluster_size
    # A thick replica takes half the clusters; a thin one as big as the pool runs out.
    half = (pool.capacity // cluster // 2) * cluster
    s.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
        name="fill", uuid=str(uuidlib.uuid4()), pooluuid="p0", size=half))
    r = s.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
        name="r0", uuid=str(uuidlib.uuid4()), pooluuid="p0", size=pool.capacity, thin=True,
        share=common_pb2.NVMF))
    nqn = "nqn.2019-05.io.openebs:r0"
    adm_a, io_a = host(engine, nqn, HOSTS[0], acre=True)
    c, d = adm_a.identify(1)
    assert c.status == 0 and struct.unpack_from("<3H", d, 128) == (1, 2, 3)

    # Out of space: Capacity Exceeded, retryable, with the replica's delay (index 3).
    bs = 512
    failed = None
    for i in range(r.size // cluster):
        c = io_a.write(i * cluster // bs, b"\x5A" * bs)
        if c.status:
            failed = c
            break
    assert failed is not None, "the thin replica never ran out of space"
    assert (failed.status, failed.dnr, failed.crd) == (SC_CAPACITY_EXCEEDED, False, 3), str(failed)
    # An LBA out of range is final: DNR, no delay.
    c = io_a.write(r.size // bs, b"\x00" * bs)
    assert (c.status, c.dnr, c.crd) == (SC_LBA_RANGE, True, 0), str(c)

    # A reservation conflict: delay index 3 for a host with ACRE, none without.
    c, _ = io_a.command(nt.IO_RESV_REGISTER, 1, {10: 0}, write=struct.pack("<QQ", 0, 0xA))
    assert c.status == 0
    c, _ = io_a.command(nt.IO_RESV_ACQUIRE, 1, {10: 1 << 8}, write=struct.pack("<QQ", 0xA, 0))
    assert c.status == 0
    adm_b, io_b = host(engine, nqn, HOSTS[1], acre=True)
    adm_c, io_c = host(engine, nqn, HOSTS[2], acre=False)
    c = io_b.write(0, b"\x01" * bs)
    assert (c.status, c.dnr, c.crd) == (SC_RESV_CONFLICT, False, 3), str(c)
    c = io_c.write(0, b"\x01" * bs)
    assert (c.status, c.dnr, c.crd) == (SC_RESV_CONFLICT, False, 0), str(c)
    # Reads stay allowed under Write Exclusive and succeed with no delay field.
    c, _ = io_b.read(0, 1)
    assert (c.status, c.crd) == (0, 0)
    for q in (io_a, adm_a, io_b, adm_b, io_c, adm_c):
        q.close()
    s.close()
