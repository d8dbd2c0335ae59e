"""The NVMe/TCP target against a hostile host (tests/integration/nvme_tcp.py): malformed
and truncated PDUs, PDUs out of sequence, bad digests, data that does not match its R2T,
too many commands, lengths that do not add up, unknown opcodes, out-of-range LBAs and
namespaces, commands before Connect, and Connects it must refuse.

Each case asserts the exact answer — the NVMe status of the completion, or the
C2HTermReq (fatal error status, field offset, the offending header) and the connection
closing — and then that the daemon still serves everyone else: the healthy host connected
before writes and reads on, a new host connects and does the same, the hostile
connection's socket is gone from the daemon, and (the engine fixture) the daemon stops
with exit code 0 and no sanitizer report."""
import os
import socket
import struct
import time

import pytest

import bdev_pb2
import bdev_pb2_grpc
import common_pb2
import nvme_tcp as nt
from nvme_tcp import Queue, connect_ctrlr, sqe

NQN = "nqn.2019-05.io.openebs:m0"
BS, NBLOCKS = 512, 8 * 1024 * 1024 // 512
OTHER_HOST = "nqn.2014-08.org.nvmexpress:uuid:4e564d65-0000-4000-8000-0000000000b2"
# NVMe statuses, (SCT << 8) | SC
INVALID_OPCODE, INVALID_FIELD, INVALID_NS, CMD_SEQ_ERROR = 0x01, 0x02, 0x0B, 0x0C
SGL_LENGTH_INVALID, SGL_INVALID_TYPE, TRANSIENT_TRANSPORT, LBA_RANGE = 0x0F, 0x11, 0x22, 0x80
CONNECT_INVALID_PARAM, CONNECT_INVALID_HOST = 0x182, 0x184


def sockets(engine):
    """The daemon's open sockets (listeners, gRPC, JSON-RPC, NVMe/TCP connections)."""
    d = f"/proc/{engine.proc.pid}/fd"
    n = 0
    for f in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, f)).startswith("socket:")
        except FileNotFoundError:
            pass
    return n


def io_check(io, lba):
    """A write (R2T path) and a small in-capsule write, both read back."""
    big, small = os.urandom(16 * BS), os.urandom(2 * BS)
    for data, at in ((big, lba), (small, lba + 16)):
        c = io.write(at, data)
        assert c.status == 0 and not c.dnr, str(c)
        c, back = io.read(at, len(data) // BS)
        assert c.status == 0 and back == data, str(c)


class Target:
    """m0 shared over NVMe/TCP, with a healthy host connected before the hostile one."""

    def __init__(self, engine):
        self.engine = engine
        self.port = engine.nvmf_port
        self.queues = []
        self.good = connect_ctrlr(self.port, NQN)
        io_check(self.good[1][0], 1000)
        self.base = sockets(engine)

    def queue(self, icreq=True, **kw):
        """A hostile connection (closed at the end of the test)."""
        q = Queue("127.0.0.1", self.port)
        self.queues.append(q)
        if icreq:
            q.icreq(**kw)
        return q

    def admin(self, enable=True, **kw):
        q = self.queue(**kw)
        c = q.connect(NQN)
        assert c.status == 0, str(c)
        if enable:
            q.enable()
        return q

    def io(self, admin=None, sqsize=31, **kw):
        admin = admin or self.admin()
        q = self.queue(**kw)
        c = q.connect(NQN, qid=1, cntlid=admin.cntlid, sqsize=sqsize)
        assert c.status == 0, str(c)
        return q

    def still_serving(self):
        """The hostile connections gone, everyone else is served."""
        for q in self.queues:
            q.close()
        deadline = time.time() + 10
        while sockets(self.engine) != self.base:
            assert time.time() < deadline, \
                f"the daemon holds {sockets(self.engine)} sockets, {self.base} before"
            time.sleep(0.05)
        assert self.engine.proc.poll() is None
        adm, (io,) = self.good
        io_check(io, 2000)
        c, data = adm.identify(1)
        assert c.status == 0 and data[768:768 + len(NQN)] == NQN.encode()
        new_adm, (new_io,) = connect_ctrlr(self.port, NQN, digests=True)
        io_check(new_io, 3000)
        for q in (new_io, new_adm, io, adm):
            q.close()


@pytest.fixture
def v1(channel):
    return bdev_pb2_grpc.BdevRpcStub(channel)


@pytest.fixture
def tgt(engine, v1):
    v1.Create(bdev_pb2.CreateBdevRequest(uri="malloc:///m0?size_mb=8"))
    v1.Share(bdev_pb2.BdevShareRequest(name="m0", protocol=common_pb2.NVMF))
    t = Target(engine)
    yield t
    t.still_serving()


def expect_term(q, fes, fei, offending=None):
    """A C2HTermReq with this fatal error status and field, then the connection closes."""
    p = q.recv_pdu()
    assert p.type == nt.C2H_TERM, p
    assert (p.fes, p.fei) == (fes, fei), (p.fes, p.fei)
    assert p.hlen == 24 and p.plen == 24 + len(p.data)
    if offending is not None:  # the common header, or the whole header, it found at fault
        assert p.data == offending, p.data
    assert q.closed_by_peer()
    return p


def expect_status(c, status, dnr=True):
    assert (c.status, c.dnr) == (status, dnr), str(c)


def rw_sqe(opc, cid, slba, nlb, sgl_len, sgl_type=nt.SGL_TRANSPORT, nsid=1):
    return sqe(opc, cid, nsid, {10: slba, 11: slba >> 32, 12: nlb - 1}, sgl_len, sgl_type)


def h2c(q, cccid, ttag, offset, data, last=True, **kw):
    return q.pdu(nt.H2C_DATA, nt.h2c_psh(cccid, ttag, offset, len(data)), data,
                 nt.F_LAST if last else 0, **kw)


def capsule(q, plen_delta=0, hlen=72, pdo=None, data=b"", flags=0):
    """A Write capsule whose common header is then edited."""
    s = rw_sqe(nt.IO_WRITE, 7, 0, 1, len(data), nt.SGL_INCAPSULE if data else nt.SGL_TRANSPORT)
    b = bytearray(nt.ch(nt.CMD, flags, hlen, pdo if pdo is not None else (72 if data else 0),
                        72 + len(data) + plen_delta) + s + data)
    return bytes(b)


# ---- malformed and truncated PDUs ----


def test_short_common_header_then_close(tgt):
    q = tgt.queue(icreq=False)
    q.send(nt.ch(nt.ICREQ, 0, 128, 0, 128)[:5])
    q.sock.shutdown(socket.SHUT_WR)
    assert q.closed_by_peer()
    # the same after ICReq, and with a header cut short
    q = tgt.queue()
    q.send(capsule(q)[:40])
    q.sock.shutdown(socket.SHUT_WR)
    assert q.closed_by_peer()


@pytest.mark.parametrize("hlen", [0, 8, 71, 73, 255])
def test_capsule_wrong_hlen(tgt, hlen):
    q = tgt.queue()
    pdu = capsule(q, hlen=hlen)
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 2, pdu[:8])


def test_icreq_wrong_lengths_and_fields(tgt):
    q = tgt.queue(icreq=False)
    q.send(nt.ch(nt.ICREQ, 0, 120, 0, 128) + bytes(120))
    expect_term(q, nt.FES_INVALID_HEADER, 2)
    q = tgt.queue(icreq=False)
    q.send(nt.ch(nt.ICREQ, 0, 128, 0, 0x7FFFFFFF) + bytes(120))
    expect_term(q, nt.FES_INVALID_HEADER, 4)
    q = tgt.queue(icreq=False)
    q.send(nt.ch(nt.ICREQ, 0, 128, 8, 128) + bytes(120))
    expect_term(q, nt.FES_INVALID_HEADER, 3)
    with pytest.raises(nt.TermReq) as e:
        tgt.queue(pfv=1)
    assert (e.value.pdu.fes, e.value.pdu.fei) == (nt.FES_UNSUPPORTED, 8)
    with pytest.raises(nt.TermReq) as e:
        tgt.queue(hpda=32)
    assert (e.value.pdu.fes, e.value.pdu.fei) == (nt.FES_INVALID_HEADER, 10)


def test_plen_smaller_than_hlen(tgt):
    q = tgt.queue()
    pdu = capsule(q, plen_delta=-32)
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 4, pdu[:8])
    # with a header digest negotiated, plen must cover it too
    q = tgt.queue(hdgst=True)
    q.send(q.capsule(rw_sqe(nt.IO_READ, 1, 0, 1, BS))[:4] + struct.pack("<I", 72))
    expect_term(q, nt.FES_INVALID_HEADER, 4)


@pytest.mark.parametrize("plen", [0x7FFFFFFF, 0xFFFFFFFF, 72 + 8192 + 1])
def test_absurd_plen(tgt, plen):
    # more in-capsule data than any queue takes: data transfer limit exceeded
    q = tgt.queue()
    q.send(nt.ch(nt.CMD, 0, 72, 72, plen) + rw_sqe(nt.IO_WRITE, 1, 0, 1, BS, nt.SGL_INCAPSULE))
    expect_term(q, nt.FES_LIMIT, 4)
    # an H2CData PDU larger than MAXH2CDATA (128 KiB)
    q = tgt.queue()
    q.send(nt.ch(nt.H2C_DATA, nt.F_LAST, 24, 24, max(plen, 24 + 128 * 1024 + 1)) + bytes(16))
    expect_term(q, nt.FES_LIMIT, 4)


def test_io_queue_in_capsule_limit(tgt):
    # 8 KiB in a capsule is fine on an admin queue, over the 4 KiB of an I/O queue
    q = tgt.io()
    data = os.urandom(8192)
    s = rw_sqe(nt.IO_WRITE, 9, 0, 16, len(data), nt.SGL_INCAPSULE)
    q.send(q.capsule(s, data))
    expect_term(q, nt.FES_LIMIT, 4)


@pytest.mark.parametrize("pdo", [0, 8, 71, 72 + 100, 200, 255])
def test_pdo_inconsistent(tgt, pdo):
    # data must start after the header (and its digest) and before the end of the PDU
    q = tgt.queue()
    pdu = capsule(q, pdo=pdo, data=bytes(100))
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 3, pdu[:8])


@pytest.mark.parametrize("ptype", [0x08, 0x0A, 0x0B, 0x42, 0xFF])
def test_unknown_pdu_type(tgt, ptype):
    for ic in (False, True):
        q = tgt.queue(icreq=ic)
        pdu = nt.ch(ptype, 0, 24, 0, 24) + bytes(16)
        q.send(pdu)
        expect_term(q, nt.FES_INVALID_HEADER, 0, pdu[:8])


@pytest.mark.parametrize("ptype,hlen", [(nt.ICRESP, 128), (nt.C2H_TERM, 24), (nt.RSP, 24),
                                        (nt.C2H_DATA, 24), (nt.R2T, 24)])
def test_controller_pdu_from_host(tgt, ptype, hlen):
    q = tgt.admin()
    pdu = nt.ch(ptype, 0, hlen, 0, hlen) + bytes(hlen - 8)
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 0, pdu[:8])


def test_capsule_before_icreq(tgt):
    q = tgt.queue(icreq=False)
    pdu = q.capsule(rw_sqe(nt.IO_READ, 1, 0, 1, BS))
    q.send(pdu)
    expect_term(q, nt.FES_SEQUENCE, 0, pdu[:8])
    q = tgt.queue(icreq=False)
    q.send(h2c(q, 1, 0, 0, bytes(BS)))
    expect_term(q, nt.FES_SEQUENCE, 0)


def test_second_icreq(tgt):
    q = tgt.admin()
    with pytest.raises(nt.TermReq) as e:
        q.icreq()
    assert (e.value.pdu.fes, e.value.pdu.fei) == (nt.FES_SEQUENCE, 0)
    assert q.closed_by_peer()


def test_h2c_termreq_from_host(tgt):
    q = tgt.io()
    q.send(nt.ch(nt.H2C_TERM, 0, 24, 0, 24 + 8) + struct.pack("<HI", 1, 0) + bytes(10) + bytes(8))
    assert q.closed_by_peer()
    # a termination request carrying more than the 128 bytes of header allowed
    q = tgt.queue()
    q.send(nt.ch(nt.H2C_TERM, 0, 24, 0, 24 + 129) + bytes(16 + 129))
    expect_term(q, nt.FES_INVALID_HEADER, 4)


# ---- digests ----


def test_bad_header_digest(tgt):
    q = tgt.admin(hdgst=True, ddgst=True)
    pdu = q.capsule(sqe(nt.ADM_IDENTIFY, 3, 0, {10: 1}, 4096), bad_hdgst=True)
    q.send(pdu)
    expect_term(q, nt.FES_HDGST, 0, pdu[:72])


def test_digest_flags_not_as_negotiated(tgt):
    # header digest negotiated, PDU without one
    q = tgt.admin(hdgst=True)
    q.hdgst = False
    pdu = q.capsule(sqe(nt.ADM_IDENTIFY, 3, 0, {10: 1}, 4096))
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 1, pdu[:8])
    # a data digest the connection did not negotiate
    q = tgt.io()
    q.ddgst = True
    pdu = q.capsule(rw_sqe(nt.IO_WRITE, 3, 0, 1, BS, nt.SGL_INCAPSULE), bytes(BS))
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 1, pdu[:8])


def test_bad_data_digest_in_capsule(tgt):
    """A data digest error completes the command with Transient Transport Error (the host
    may retry: no DNR); nothing is written and the queue goes on."""
    q = tgt.io(hdgst=True, ddgst=True)
    assert q.write(40, bytes(BS)).status == 0
    s = rw_sqe(nt.IO_WRITE, 11, 40, 1, BS, nt.SGL_INCAPSULE)
    q.send(q.capsule(s, b"\xAA" * BS, bad_ddgst=True))
    c, _ = q.response()
    expect_status(c, TRANSIENT_TRANSPORT, dnr=False)
    assert c.cid == 11
    c, data = q.read(40, 1)
    assert c.status == 0 and data == bytes(BS)
    io_check(q, 50)


def test_bad_data_digest_in_h2c_data(tgt):
    q = tgt.io(hdgst=True, ddgst=True)
    q.send(q.capsule(rw_sqe(nt.IO_WRITE, 12, 60, 16, 16 * BS)))
    r2t = q.recv_pdu()
    assert r2t.type == nt.R2T
    cccid, ttag, off, length = struct.unpack_from("<HHII", r2t.hdr, 8)
    assert (cccid, off, length) == (12, 0, 16 * BS)
    q.send(h2c(q, cccid, ttag, 0, b"\xBB" * (16 * BS), bad_ddgst=True))
    c, _ = q.response()
    expect_status(c, TRANSIENT_TRANSPORT, dnr=False)
    c, data = q.read(60, 16)
    assert c.status == 0 and data == bytes(16 * BS)
    io_check(q, 80)


# ---- H2CData that does not match its R2T ----


def write_waiting_for_data(tgt, cid=21, nlb=16):
    q = tgt.io()
    q.send(q.capsule(rw_sqe(nt.IO_WRITE, cid, 100, nlb, nlb * BS)))
    r2t = q.recv_pdu()
    assert r2t.type == nt.R2T
    return q, struct.unpack_from("<HHII", r2t.hdr, 8)


def test_h2c_wrong_ttag(tgt):
    q, (cccid, ttag, _, _) = write_waiting_for_data(tgt)
    pdu = h2c(q, cccid, ttag + 1, 0, bytes(BS))
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 10, pdu[:24])
    # a tag beyond every command slot, and a data PDU nobody asked for
    q, (cccid, _, _, _) = write_waiting_for_data(tgt)
    q.send(h2c(q, cccid, 0xFFFF, 0, bytes(BS)))
    expect_term(q, nt.FES_INVALID_HEADER, 10)
    q = tgt.io()
    q.send(h2c(q, 1, 0, 0, bytes(BS)))
    expect_term(q, nt.FES_INVALID_HEADER, 10)


def test_h2c_wrong_cccid(tgt):
    q, (cccid, ttag, _, _) = write_waiting_for_data(tgt)
    pdu = h2c(q, cccid + 1, ttag, 0, bytes(BS))
    q.send(pdu)
    expect_term(q, nt.FES_INVALID_HEADER, 8, pdu[:24])


@pytest.mark.parametrize("offset,length", [(BS, BS), (16 * BS, BS), (0xFFFFFF00, BS),
                                           (0, 17 * BS)])
def test_h2c_out_of_range(tgt, offset, length):
    q, (cccid, ttag, _, _) = write_waiting_for_data(tgt)
    pdu = h2c(q, cccid, ttag, offset, bytes(length))
    q.send(pdu)
    expect_term(q, nt.FES_OUT_OF_RANGE, 12, pdu[:24])


def test_h2c_datal_not_the_pdu_length(tgt):
    q, (cccid, ttag, _, _) = write_waiting_for_data(tgt)
    pdu = bytearray(h2c(q, cccid, ttag, 0, bytes(2 * BS)))
    struct.pack_into("<I", pdu, 16, BS)
    q.send(bytes(pdu))
    expect_term(q, nt.FES_INVALID_HEADER, 16)


def test_h2c_in_pieces(tgt):
    """Not hostile: the data of one R2T in several H2CData PDUs is fine."""
    q, (cccid, ttag, _, length) = write_waiting_for_data(tgt, cid=5)
    data = os.urandom(length)
    for off in range(0, length, 3 * BS):
        q.send(h2c(q, cccid, ttag, off, data[off:off + 3 * BS], last=off + 3 * BS >= length))
    c, _ = q.response()
    assert c.status == 0 and c.cid == 5
    assert q.read(100, length // BS)[1] == data


# ---- too many commands ----


def test_more_commands_than_the_queue_has_entries(tgt):
    q = tgt.io(sqsize=3)  # 4 entries
    for cid in range(1, 5):
        q.send(q.capsule(rw_sqe(nt.IO_WRITE, cid, cid * 16, 16, 16 * BS)))
        assert q.recv_pdu().type == nt.R2T
    pdu = q.capsule(rw_sqe(nt.IO_WRITE, 5, 80, 16, 16 * BS))
    q.send(pdu)
    expect_term(q, nt.FES_SEQUENCE, 0, pdu[:72])


def test_queue_full_of_reads_answered(tgt):
    """A full queue of reads sent at once is answered command by command."""
    q = tgt.io(sqsize=7)
    q.send(b"".join(q.capsule(rw_sqe(nt.IO_READ, cid, 0, 8, 8 * BS)) for cid in range(1, 9)))
    cids = set()
    for _ in range(8):
        c, data = q.response()
        assert c.status == 0 and len(data) == 8 * BS
        cids.add(c.cid)
    assert cids == set(range(1, 9))


# ---- commands the controller must refuse ----


def test_sgl_length_not_nlb_times_block_size(tgt):
    q = tgt.io()
    for s, data in ((rw_sqe(nt.IO_WRITE, 1, 0, 2, BS, nt.SGL_INCAPSULE), bytes(BS)),
                    (rw_sqe(nt.IO_WRITE, 2, 0, 1, 2 * BS, nt.SGL_INCAPSULE), bytes(2 * BS))):
        q.send(q.capsule(s, data))
        expect_status(q.response()[0], SGL_LENGTH_INVALID)
    for sgl_len in (BS, 3 * BS, 0):
        q.send(q.capsule(rw_sqe(nt.IO_READ, 3, 0, 2, sgl_len)))
        expect_status(q.response()[0], SGL_LENGTH_INVALID)
    # more than MDTS (128 KiB), and an SGL that says less than the data in the capsule
    q.send(q.capsule(rw_sqe(nt.IO_READ, 4, 0, 257, 257 * BS)))
    expect_status(q.response()[0], SGL_LENGTH_INVALID)
    q.send(q.capsule(rw_sqe(nt.IO_WRITE, 5, 0, 2, 2 * BS, nt.SGL_INCAPSULE), bytes(BS)))
    expect_status(q.response()[0], SGL_LENGTH_INVALID)
    # in-capsule data for a read, and a keyed SGL NVMe/TCP does not use
    q.send(q.capsule(rw_sqe(nt.IO_READ, 6, 0, 1, BS, nt.SGL_INCAPSULE), bytes(BS)))
    expect_status(q.response()[0], SGL_INVALID_TYPE)
    q.send(q.capsule(rw_sqe(nt.IO_READ, 7, 0, 1, BS, 0x40)))
    expect_status(q.response()[0], SGL_INVALID_TYPE)
    io_check(q, 200)


def test_unknown_opcodes(tgt):
    adm = tgt.admin()
    for opc in (0x01, 0x04, 0x0D, 0x80, 0xC0, 0xFC, 0x03, 0xFF):
        c, _ = adm.command(opc)
        expect_status(c, INVALID_OPCODE)
    io = tgt.io(adm)
    for opc in (0x04, 0x0C, 0x19, 0x80, 0xFC, 0x03, 0x7B):
        c, _ = io.command(opc, nsid=1)
        expect_status(c, INVALID_OPCODE)
    for fctype in (0x05, 0x06, 0x7F, 0xC0):  # authentication, unknown fabrics commands
        c, _ = adm.command(nt.FABRICS, fctype=fctype)
        expect_status(c, INVALID_OPCODE)
    io_check(io, 300)


def test_lba_out_of_range(tgt):
    q = tgt.io()
    for slba, nlb in ((NBLOCKS, 1), (NBLOCKS - 1, 2), (1 << 63, 1), ((1 << 64) - 1, 2)):
        c = q.write(slba, bytes(nlb * BS))
        expect_status(c, LBA_RANGE)
        c, _ = q.read(slba, nlb)
        expect_status(c, LBA_RANGE)
    c, data = q.read(NBLOCKS - 2, 2)
    assert c.status == 0 and len(data) == 2 * BS


def test_invalid_namespace(tgt):
    adm = tgt.admin()
    io = tgt.io(adm)
    for nsid in (0, 2, 0xFFFFFFFE):
        expect_status(io.write(0, bytes(BS), nsid=nsid), INVALID_NS)
        expect_status(io.read(0, 1, nsid=nsid)[0], INVALID_NS)
        expect_status(io.resv_report(nsid=nsid)[0], INVALID_NS)
        expect_status(io.resv_register(0xA1, nsid=nsid), INVALID_NS)
    assert io.resv_register(0xA1).status == 0
    c, data = io.resv_report()
    assert c.status == 0 and struct.unpack_from("<Q", data, 64 + 8)[0] == 0xA1  # RKEY
    expect_status(adm.identify(0, nsid=2)[0], INVALID_NS)
    expect_status(adm.identify(3, nsid=2)[0], INVALID_NS)


def test_commands_before_connect(tgt):
    q = tgt.queue()
    for opc, kw in ((nt.ADM_IDENTIFY, {"cdw": {10: 1}, "read": 4096}),
                    (nt.IO_READ, {"nsid": 1, "read": BS}),
                    (nt.IO_WRITE, {"nsid": 1, "write": bytes(BS)}),
                    (nt.FABRICS, {"fctype": nt.FC_PROP_GET}),
                    (nt.FABRICS, {"fctype": nt.FC_PROP_SET, "cdw": {11: nt.REG_CC, 12: 1}})):
        c, _ = q.command(opc, **kw)
        expect_status(c, CMD_SEQ_ERROR, dnr=False)
    # a write whose data comes by R2T, before Connect
    c, _ = q.command(nt.IO_WRITE, 1, write=bytes(16 * BS))
    expect_status(c, CMD_SEQ_ERROR, dnr=False)
    # Connected but not enabled: admin commands wait for CC.EN, I/O queues too
    adm = tgt.admin(enable=False)
    expect_status(adm.identify(1)[0], CMD_SEQ_ERROR, dnr=False)
    io = tgt.queue()
    c = io.connect(NQN, qid=1, cntlid=adm.cntlid)
    expect_status(c, CONNECT_INVALID_PARAM)
    assert c.dw0 == 42 << 16  # IATTR 0 (the command), IPO: QID
    # a second Connect on a connected queue
    adm.enable()
    expect_status(adm.connect(NQN), CMD_SEQ_ERROR, dnr=False)
    assert adm.identify(1)[0].status == 0


def test_connect_unknown_nqn(tgt):
    for nqn in ("nqn.2019-05.io.openebs:nope", "", "x" * 255):
        q = tgt.queue()
        c = q.connect(nqn)
        expect_status(c, CONNECT_INVALID_PARAM)
        assert c.dw0 == 1 | 256 << 16  # IATTR 1 (the connect data), IPO: SUBNQN
    q = tgt.queue()
    c = q.connect(NQN, hostnqn="")
    expect_status(c, CONNECT_INVALID_PARAM)
    assert c.dw0 == 1 | 512 << 16


def test_connect_host_not_allowed(tgt, v1):
    v1.Share(bdev_pb2.BdevShareRequest(name="m0", protocol=common_pb2.NVMF,
                                       allowed_hosts=[OTHER_HOST, nt.HOSTNQN]))
    c = tgt.queue().connect(NQN, hostnqn=OTHER_HOST)
    assert c.status == 0, str(c)
    q = tgt.queue()
    c = q.connect(NQN, hostnqn=OTHER_HOST[:-2] + "c3")
    expect_status(c, CONNECT_INVALID_HOST)
    # the refused queue is no controller's: nothing else works on it
    expect_status(q.identify(1)[0], CMD_SEQ_ERROR, dnr=False)


def test_io_queue_connect_wrong_cntlid(tgt):
    adm = tgt.admin()
    for cntlid in (adm.cntlid + 1, 0, 0xFFFF, 0xFFFE):
        c = tgt.queue().connect(NQN, qid=1, cntlid=cntlid)
        expect_status(c, CONNECT_INVALID_PARAM)
        assert c.dw0 == 1 | 16 << 16  # IATTR 1, IPO: CNTLID
    # the right controller with another host's NQN or host id
    c = tgt.queue().connect(NQN, qid=1, cntlid=adm.cntlid, hostnqn=OTHER_HOST)
    expect_status(c, CONNECT_INVALID_PARAM)
    assert c.dw0 == 1 | 512 << 16
    c = tgt.queue().connect(NQN, qid=1, cntlid=adm.cntlid, hostid=bytes(16))
    expect_status(c, CONNECT_INVALID_PARAM)
    # a queue id twice, a queue id beyond the granted number, a queue size of 0 or > MQES
    tgt.io(adm)
    for qid, sqsize, ipo in ((1, 31, 42), (33, 31, 42), (2, 0, 44), (2, 128, 44)):
        c = tgt.queue().connect(NQN, qid=qid, cntlid=adm.cntlid, sqsize=sqsize)
        expect_status(c, CONNECT_INVALID_PARAM)
        assert c.dw0 == ipo << 16, (qid, sqsize, hex(c.dw0))


def test_connect_data_short_or_missing(tgt):
    for sgl_len, sgl_type, data in ((512, nt.SGL_INCAPSULE, bytes(512)),
                                    (0, nt.SGL_TRANSPORT, b"")):
        q = tgt.queue()
        q.send(q.capsule(nt.connect_sqe(1, sgl_len=sgl_len, sgl_type=sgl_type), data))
        expect_status(q.response()[0], SGL_LENGTH_INVALID)
        # one Connect per queue, even a refused one
        expect_status(q.connect(NQN), CMD_SEQ_ERROR, dnr=False)
    # the connect data may also come by R2T
    q = tgt.queue()
    q.out = nt.connect_data(NQN)
    q.send(q.capsule(nt.connect_sqe(1, sgl_type=nt.SGL_TRANSPORT)))
    c, _ = q.response()
    assert c.status == 0, str(c)


def test_log_page_and_identify_lengths(tgt):
    adm = tgt.admin()
    c, _ = adm.get_log_page(0x02, 512, offset=1024)  # SMART is 512 bytes
    expect_status(c, INVALID_FIELD)
    c, _ = adm.get_log_page(0x02, 512, offset=2)  # not dword-aligned
    expect_status(c, INVALID_FIELD)
    numd = 4096 // 4 - 1  # asks for more than the SGL describes
    c, _ = adm.command(nt.ADM_GET_LOG, 0xFFFFFFFF, {10: 0x02 | numd << 16}, read=512)
    expect_status(c, INVALID_FIELD)
    c, _ = adm.get_log_page(0x7F, 512)
    expect_status(c, 0x109)  # Invalid Log Page
    c, _ = adm.command(nt.ADM_IDENTIFY, 0, {10: 1})  # nowhere to put it
    expect_status(c, SGL_LENGTH_INVALID)
    c, _ = adm.command(nt.ADM_IDENTIFY, 0, {10: 0x55}, read=4096)  # unknown CNS
    expect_status(c, INVALID_FIELD)
    c, data = adm.get_log_page(0x02, 512)
    assert c.status == 0 and len(data) == 512


def test_async_event_requests_beyond_the_limit(tgt):
    """Four event requests are kept (Identify AERL 3), the fifth is refused; a queue
    closed with them outstanding ends them."""
    adm = tgt.admin()
    for cid in range(100, 105):
        adm.send(adm.capsule(sqe(0x0C, cid)))
    c, _ = adm.response()
    assert (c.cid, c.status) == (104, 0x105), str(c)  # Asynchronous Event Request Limit Exceeded
    assert adm.identify(1)[0].status == 0


def test_host_pdu_data_alignment(tgt):
    """Not hostile: the largest host PDU data alignment (128 bytes) is honoured."""
    q = tgt.io(hpda=31, hdgst=True, ddgst=True)
    q.send(q.capsule(rw_sqe(nt.IO_READ, 3, 0, 4, 4 * BS)))
    p = q.recv_pdu()
    assert p.type == nt.C2H_DATA and p.pdo == 128 and len(p.data) == 4 * BS
    assert q.response()[0].status == 0
    io_check(q, 500)


# ---- connections that go away at the wrong moment (regressions) ----


def test_close_while_write_data_awaited(tgt):
    """A host gone while the target waits for the H2CData of a write — before Connect and
    on a connected I/O queue (the command is released, then the connection)."""
    q = tgt.queue()
    q.send(q.capsule(rw_sqe(nt.IO_WRITE, 1, 0, 16, 16 * BS)))
    assert q.recv_pdu().type == nt.R2T
    q.close()
    q, _ = write_waiting_for_data(tgt)
    q.close()


def test_h2c_before_connect(tgt):
    """A termination on a queue that never connected (freed with nothing holding it)."""
    q = tgt.queue()
    q.send(h2c(q, 1, 7, 0, bytes(BS)))
    expect_term(q, nt.FES_INVALID_HEADER, 10)
    q = tgt.queue()
    q.send(nt.ch(nt.RSP, 0, 24, 0, 24) + bytes(16))
    expect_term(q, nt.FES_INVALID_HEADER, 0)


@pytest.mark.parametrize("cut", ["pad", "data", "digest"])
def test_close_during_in_capsule_data(tgt, cut):
    """A host gone in the middle of a capsule's in-capsule data, on a queue whose command
    slots have been used before (the command is released, the connection freed)."""
    q = tgt.io(hdgst=True, ddgst=True)
    io_check(q, 400)
    data = bytes(8 * BS)
    pdu = bytearray(q.capsule(rw_sqe(nt.IO_WRITE, 9, 0, 8, len(data), nt.SGL_INCAPSULE), data))
    if cut == "pad":  # pdo beyond the header digest: padding first
        pdu[3] = 76 + 16
        pdu = pdu[:76] + bytes(16) + pdu[76:]
        struct.pack_into("<I", pdu, 4, len(pdu))
        struct.pack_into("<I", pdu, 72, nt.crc32c(bytes(pdu[:72])))
        q.send(bytes(pdu[:76 + 8]))
    elif cut == "data":
        q.send(bytes(pdu[:76 + 1000]))
    else:
        q.send(bytes(pdu[:-2]))
    time.sleep(0.1)
    q.close()


def test_reset_with_commands_in_flight(tgt):
    """Commands sent and the connection reset at once: their answers cannot be sent."""
    for _ in range(5):
        q = tgt.io()
        q.send(b"".join(q.capsule(rw_sqe(nt.IO_READ, cid, 0, 16, 16 * BS)) for cid in range(1, 20)))
        q.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        q.close()
        p = tgt.queue()
        p.send(b"".join(p.capsule(sqe(nt.ADM_IDENTIFY, cid, 0, {10: 1}, 4096))
                        for cid in range(1, 9)))
        p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        p.close()


def test_connections_left_open_at_shutdown(engine, channel, v1):
    """Connections no controller holds — idle, after ICReq, refused, mid-capsule — and a
    controller's are all closed and freed when the daemon stops (the engine fixture checks
    exit code 0 and no leak report)."""
    v1.Create(bdev_pb2.CreateBdevRequest(uri="malloc:///m0?size_mb=8"))
    v1.Share(bdev_pb2.BdevShareRequest(name="m0", protocol=common_pb2.NVMF))
    port = engine.nvmf_port
    keep = [socket.create_connection(("127.0.0.1", port))]
    q = Queue("127.0.0.1", port)
    q.icreq()
    keep.append(q)
    q = Queue("127.0.0.1", port)
    q.icreq()
    assert q.connect("nqn.2019-05.io.openebs:nope").status == CONNECT_INVALID_PARAM
    keep.append(q)
    q = Queue("127.0.0.1", port)
    q.icreq()
    q.send(capsule(q, data=bytes(BS))[:100])
    keep.append(q)
    adm, (io,) = connect_ctrlr(port, NQN)
    io.send(io.capsule(rw_sqe(nt.IO_WRITE, 1, 0, 16, 16 * BS)))
    assert io.recv_pdu().type == nt.R2T
    keep += [adm, io]
    channel.close()
    t0 = time.time()
    assert engine.stop() == 0
    assert time.time() - t0 < 8
    assert "still closing at shutdown" not in engine.output()
    for k in keep:
        k.close()
