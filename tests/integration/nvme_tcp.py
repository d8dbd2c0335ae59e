"""A small pure-Python NVMe/TCP host for tests (NVMe/TCP Transport 1.0, NVMe-oF 1.1).

It speaks just enough to drive the target, and lets a test send anything at all:

    q = Queue("127.0.0.1", port)       # a TCP connection = one queue
    q.icreq(hdgst=True, ddgst=True)    # ICReq/ICResp, digests as negotiated
    q.connect(subnqn, HOSTNQN)         # Fabrics Connect (admin queue: qid 0)
    q.enable()                         # Property Set CC.EN=1, wait for CSTS.RDY
    c, data = q.identify(1)            # c: the Completion (status, dw0, ...)

Commands return a Completion; raw PDUs go out with send() and come back with recv_pdu()
(a C2HTermReq comes back as a Pdu of type C2H_TERM like any other)."""
import socket
import struct
import time
from collections import namedtuple

# ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), for the digests ----


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_CRC = _crc_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---- PDUs ----

ICREQ, ICRESP, H2C_TERM, C2H_TERM, CMD, RSP, H2C_DATA, C2H_DATA, R2T = 0, 1, 2, 3, 4, 5, 6, 7, 9
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 0x01, 0x02, 0x04, 0x08
HLEN = {ICREQ: 128, H2C_TERM: 24, CMD: 72, H2C_DATA: 24}
# Fatal error status of a termination request
(FES_INVALID_HEADER, FES_SEQUENCE, FES_HDGST, FES_OUT_OF_RANGE, FES_LIMIT,
 FES_UNSUPPORTED) = range(1, 7)

SGL_INCAPSULE = 0x01   # data block, offset subtype: data in the capsule
SGL_TRANSPORT = 0x5A   # transport data block: R2T/H2CData or C2HData

DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:4e564d65-0000-4000-8000-000000000001"
HOSTID = bytes.fromhex("4e564d65000040008000000000000001")

FABRICS = 0x7F
FC_PROP_SET, FC_CONNECT, FC_PROP_GET = 0x00, 0x01, 0x04
ADM_GET_LOG, ADM_IDENTIFY = 0x02, 0x06
IO_WRITE, IO_READ = 0x01, 0x02
IO_RESV_REGISTER, IO_RESV_REPORT, IO_RESV_ACQUIRE, IO_RESV_RELEASE = 0x0D, 0x0E, 0x11, 0x15
REG_CAP, REG_CC, REG_CSTS = 0x00, 0x14, 0x1C
# Writes up to this size go in the capsule, larger ones through R2T: our target's I/O queue
# IOCCSZ. Per queue in Queue.incapsule_max; set it from the target's IOCCSZ (Identify
# Controller: IOCCSZ * 16 - 64) for other targets. Linux's nvmet-tcp waits for in-capsule
# data for any write that fits its in-capsule size (16 KiB by default) and never sends an
# R2T for it, so there a write must go in the capsule up to that size.
INCAPSULE_MAX = 4096


def ch(ptype, flags, hlen, pdo, plen):
    """The 8-byte common header."""
    return struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen)


def pdu(ptype, psh, data=b"", flags=0, hdgst=False, ddgst=False, bad_hdgst=False,
        bad_ddgst=False):
    """A host PDU: common header, the rest of the header (psh), digests if asked (or
    deliberately wrong), data right after the header."""
    hlen = 8 + len(psh)
    hd = 4 if hdgst else 0
    dd = 4 if ddgst and data else 0
    pdo = hlen + hd if data else 0
    flags |= (F_HDGST if hd else 0) | (F_DDGST if dd else 0)
    hdr = ch(ptype, flags, hlen, pdo, hlen + hd + len(data) + dd) + psh
    out = hdr
    if hd:
        out += struct.pack("<I", crc32c(hdr) ^ (1 if bad_hdgst else 0))
    out += data
    if dd:
        out += struct.pack("<I", crc32c(data) ^ (1 if bad_ddgst else 0))
    return out


def icreq_pdu(hdgst=False, ddgst=False, hpda=0, pfv=0, maxr2t=0):
    psh = struct.pack("<HBBI", pfv, hpda, (1 if hdgst else 0) | (2 if ddgst else 0), maxr2t)
    return ch(ICREQ, 0, 128, 0, 128) + psh + bytes(112)


def h2c_psh(cccid, ttag, offset, length):
    return struct.pack("<HHIII", cccid, ttag, offset, length, 0)


class Pdu(namedtuple("Pdu", "type flags hlen pdo plen hdr data")):
    """A received PDU: hdr is the whole header (common header included, no digest)."""

    @property
    def fes(self):  # termination requests
        return struct.unpack_from("<H", self.hdr, 8)[0]

    @property
    def fei(self):
        return struct.unpack_from("<I", self.hdr, 10)[0]


class Completion(namedtuple("Completion", "dw0 dw1 sqhd sqid cid raw")):
    """A CQE. status is (SCT << 8) | SC, as the NVMe specification numbers them."""

    @property
    def status(self):
        return (self.raw >> 1) & 0x7FF

    @property
    def dnr(self):
        return bool(self.raw & 0x8000)

    @property
    def crd(self):  # Command Retry Delay index
        return (self.raw >> 12) & 3

    def __str__(self):
        return (f"status {self.status:#05x}{' DNR' if self.dnr else ''}"
                f"{f' CRD{self.crd}' if self.crd else ''} dw0 {self.dw0:#x}")


def sqe(opc, cid=0, nsid=0, cdw=(), sgl_len=0, sgl_type=SGL_TRANSPORT, fctype=None):
    """A 64-byte submission queue entry using SGL descriptor 1 (PSDT 01b); cdw is
    {index: value} for command dwords 10..15 (or for fabrics the bytes 40.. as dwords)."""
    b = bytearray(64)
    struct.pack_into("<BBHI", b, 0, opc, 0x40, cid, nsid)
    if fctype is not None:
        b[4] = fctype
    struct.pack_into("<QI", b, 24, 0, sgl_len)
    b[39] = sgl_type
    for i, v in dict(cdw).items():
        struct.pack_into("<I", b, 4 * i, v & 0xFFFFFFFF)
    return bytes(b)


def connect_sqe(cid, qid=0, sqsize=31, kato=0, sgl_len=1024, sgl_type=SGL_INCAPSULE):
    """Fabrics Connect: RECFMT 0, QID, SQSIZE (0's based), KATO in milliseconds."""
    s = bytearray(sqe(FABRICS, cid, 0, {}, sgl_len, sgl_type, FC_CONNECT))
    struct.pack_into("<HHHHI", s, 40, 0, qid, sqsize, 0, kato)
    return bytes(s)


def connect_data(subnqn, hostnqn=HOSTNQN, cntlid=0xFFFF, hostid=HOSTID):
    """The 1024 bytes of connect data: host id, controller id, subsystem and host NQNs."""
    d = bytearray(1024)
    d[0:16] = hostid
    struct.pack_into("<H", d, 16, cntlid)
    d[256:256 + len(subnqn)] = subnqn.encode()
    d[512:512 + len(hostnqn)] = hostnqn.encode()
    return bytes(d)


class TermReq(Exception):
    """The controller terminated the connection (C2HTermReq)."""

    def __init__(self, pdu):
        super().__init__(f"C2HTermReq fes {pdu.fes} fei {pdu.fei}")
        self.pdu = pdu


class Queue:
    """One NVMe/TCP connection: an admin queue (qid 0) or an I/O queue."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hdgst = self.ddgst = False
        self.maxh2cdata = 0
        self.cntlid = None
        self.out = b""  # the data of the write in progress, sent as R2Ts ask for it
        self.incapsule_max = INCAPSULE_MAX  # larger writes go through R2T
        self.next_cid = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- bytes ----

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            got = self.sock.recv(n - len(buf))
            if not got:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += got
        return bytes(buf)

    def closed_by_peer(self, timeout=5.0):
        """True once the controller has closed the connection (EOF or reset); anything
        still arriving first is dropped."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def recv_pdu(self):
        """The next PDU, digests checked (a PDU whose digest is wrong raises)."""
        h = self.recv_exact(8)
        ptype, flags, hlen, pdo, plen = struct.unpack("<BBBBI", h)
        rest = self.recv_exact(plen - 8)
        hdr = h + rest[:hlen - 8]
        off = hlen
        if flags & F_HDGST:
            assert struct.unpack_from("<I", rest, hlen - 8)[0] == crc32c(hdr), "header digest"
            off += 4
        data = b""
        if ptype in (C2H_TERM, H2C_TERM):
            data = rest[hlen - 8:]
        elif plen > off:
            end = plen - (4 if flags & F_DDGST else 0)
            data = rest[pdo - 8:end - 8]
            if flags & F_DDGST:
                assert struct.unpack_from("<I", rest, end - 8)[0] == crc32c(data), "data digest"
        return Pdu(ptype, flags, hlen, pdo, plen, hdr, data)

    def pdu(self, ptype, psh, data=b"", flags=0, **kw):
        """A host PDU with digests as negotiated (bad_hdgst, bad_ddgst: wrong ones)."""
        return pdu(ptype, psh, data, flags, self.hdgst, self.ddgst, **kw)

    # ---- connection setup ----

    def icreq(self, hdgst=False, ddgst=False, hpda=0, pfv=0, maxr2t=0):
        self.send(icreq_pdu(hdgst, ddgst, hpda, pfv, maxr2t))
        r = self.recv_pdu()
        if r.type == C2H_TERM:
            raise TermReq(r)
        assert r.type == ICRESP and r.plen == 128, r
        dg = r.hdr[11]
        self.hdgst, self.ddgst = bool(dg & 1), bool(dg & 2)
        self.maxh2cdata = struct.unpack_from("<I", r.hdr, 12)[0]
        return r

    # ---- commands ----

    def cid(self):
        c = self.next_cid
        self.next_cid = (c + 1) & 0xFFFF or 1
        return c

    def capsule(self, s, data=b"", **kw):
        """A command capsule; data (if any) goes in the capsule."""
        return self.pdu(CMD, s, data, **kw)

    def response(self):
        """Collects C2HData and answers R2Ts (with self.out) until the response capsule."""
        data = bytearray()
        while True:
            p = self.recv_pdu()
            if p.type == C2H_DATA:
                off = struct.unpack_from("<I", p.hdr, 12)[0]
                data[off:off + len(p.data)] = p.data
            elif p.type == R2T:
                self.h2c(*struct.unpack_from("<HHII", p.hdr, 8))
            elif p.type == RSP:
                return Completion(*struct.unpack_from("<IIHHHH", p.hdr, 8)), bytes(data)
            elif p.type == C2H_TERM:
                raise TermReq(p)
            else:
                raise AssertionError(f"unexpected PDU {p}")

    def h2c(self, cccid, ttag, offset, length):
        """Sends what an R2T asked for out of self.out, in PDUs of at most maxh2cdata.
        (Linux 6.1's nvmet-tcp with data digests takes only one H2CData PDU per R2T.)"""
        step = self.maxh2cdata or length
        for o in range(offset, offset + length, step):
            n = min(step, offset + length - o)
            last = F_LAST if o + n == offset + length else 0
            self.send(self.pdu(H2C_DATA, h2c_psh(cccid, ttag, o, n), self.out[o:o + n], last))

    def command(self, opc, nsid=0, cdw=(), write=b"", read=0, fctype=None):
        """Runs one command: write data in the capsule if it fits (self.incapsule_max),
        else through R2T; read data through C2HData. Returns (Completion, data read)."""
        cid = self.cid()
        if write and len(write) <= self.incapsule_max:
            s = sqe(opc, cid, nsid, cdw, len(write), SGL_INCAPSULE, fctype)
            self.send(self.capsule(s, write))
        else:
            self.out = write
            s = sqe(opc, cid, nsid, cdw, len(write) or read, SGL_TRANSPORT, fctype)
            self.send(self.capsule(s))
        c, data = self.response()
        assert c.cid == cid, (c, cid)
        return c, data

    def connect(self, subnqn, hostnqn=HOSTNQN, qid=0, sqsize=31, cntlid=0xFFFF, hostid=HOSTID,
                kato=0):
        """Fabrics Connect with its 1024 bytes of connect data in the capsule."""
        cid = self.cid()
        self.send(self.capsule(connect_sqe(cid, qid, sqsize, kato),
                               connect_data(subnqn, hostnqn, cntlid, hostid)))
        c, _ = self.response()
        assert c.cid == cid, (c, cid)
        if c.status == 0:
            self.cntlid = c.dw0 & 0xFFFF
        return c

    def prop_get(self, ofst, eight=False):
        c, _ = self.command(FABRICS, fctype=FC_PROP_GET, cdw={10: 1 if eight else 0, 11: ofst})
        return c

    def prop_set(self, ofst, value):
        c, _ = self.command(FABRICS, fctype=FC_PROP_SET, cdw={10: 0, 11: ofst, 12: value})
        return c

    def enable(self, timeout=5.0):
        """CC.EN=1 with 64-byte SQEs and 16-byte CQEs, then waits for CSTS.RDY."""
        c = self.prop_set(REG_CC, 1 | (6 << 16) | (4 << 20))
        assert c.status == 0, str(c)
        deadline = time.time() + timeout
        while not self.prop_get(REG_CSTS).dw0 & 1:
            assert time.time() < deadline, "CSTS.RDY did not come up"
            time.sleep(0.01)

    def identify(self, cns, nsid=0):
        return self.command(ADM_IDENTIFY, nsid, {10: cns}, read=4096)

    def get_log_page(self, lid, length, offset=0, nsid=0xFFFFFFFF):
        numd = length // 4 - 1
        return self.command(ADM_GET_LOG, nsid, {10: lid | (numd & 0xFFFF) << 16, 11: numd >> 16,
                                                12: offset, 13: offset >> 32}, read=length)

    def read(self, slba, nlb, bs=512, nsid=1):
        return self.command(IO_READ, nsid, {10: slba, 11: slba >> 32, 12: nlb - 1}, read=nlb * bs)

    def write(self, slba, data, bs=512, nsid=1):
        c, _ = self.command(IO_WRITE, nsid, {10: slba, 11: slba >> 32, 12: len(data) // bs - 1},
                            write=data)
        return c

    def resv_register(self, nrkey, crkey=0, rrega=0, nsid=1):
        c, _ = self.command(IO_RESV_REGISTER, nsid, {10: rrega},
                            write=struct.pack("<QQ", crkey, nrkey))
        return c

    def resv_report(self, length=4096, nsid=1):
        return self.command(IO_RESV_REPORT, nsid, {10: length // 4 - 1, 11: 1}, read=length)


def connect_ctrlr(port, subnqn, hostnqn=HOSTNQN, io_queues=1, digests=False, host="127.0.0.1",
                  incapsule_max=None):
    """An enabled controller: its admin queue and io_queues I/O queues (qids 1..).
    incapsule_max: the I/O queues' in-capsule write limit (default INCAPSULE_MAX)."""
    adm = Queue(host, port)
    adm.icreq(digests, digests)
    c = adm.connect(subnqn, hostnqn)
    assert c.status == 0, str(c)
    adm.enable()
    ios = []
    for qid in range(1, io_queues + 1):
        q = Queue(host, port)
        q.icreq(digests, digests)
        c = q.connect(subnqn, hostnqn, qid=qid, cntlid=adm.cntlid)
        assert c.status == 0, str(c)
        if incapsule_max is not None:
            q.incapsule_max = incapsule_max
        ios.append(q)
    return adm, ios
