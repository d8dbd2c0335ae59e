"""Linux's own NVMe/TCP target (nvmet-tcp, Debian 12's 6.1 kernel, in the QEMU guest:
qemu_guest.KernelTarget, tests/qemu/guest/ioe-nvmet) against the pure-Python host
(nvme_tcp.py) through a forwarded loopback port: a target nobody here wrote, for the
project's initiator to be checked against later. No io-engine daemon is involved. One boot
for the whole module (about 10-12 s until the target answers).

What the kernel does, as these tests pin it down (see docs/testing.md):
- ICResp: PFV 0, CPDA 0, MAXH2CDATA 0x400000 (4 MiB); header and data digests each as
  asked. A wrong header or data digest: no C2HTermReq, the connection is closed and the
  whole controller (admin queue too) is torn down ("ctrl N fatal error").
- Identify Controller: VID 0, MN "Linux", FR = the kernel release (8 characters), SN =
  attr_serial, MDTS 0 (no limit stated) but a transfer over 4 MiB fails at once with
  status 0x00f (Data SGL Length Invalid) + DNR; VER 1.3, MAXCMD 1024, NN 1024, SGLS
  0x100001, IOCCSZ 1028 (16 KiB in-capsule data, param_inline_data_size), IORCSZ 1,
  MSDBD 1, KAS 10 (1 s); CAP.MQES 1023 (sqsize 1024 refused), CQR 0, TO 15 (7.5 s); at most
  attr_qid_max = 128 I/O queues.
- Writes: in the capsule up to 16 KiB; above that one R2T for the whole transfer. A write
  of 16 KiB or less sent with a transport SGL (expecting an R2T) never gets one: the
  target waits for in-capsule data (so a host must put such writes in the capsule, as
  Linux's own host does). Several H2CData PDUs for one R2T work without data digest; with
  data digest the target checks the digest of the whole transfer against each PDU's, so
  only one H2CData PDU per R2T works. In-capsule data over 16 KiB: status 0x016 (SGL
  Offset Invalid) + DNR, then the unread data is parsed as PDUs and the connection dies.
- Reads: one C2HData PDU for the whole transfer (LAST set, SUCCESS never: a response
  capsule follows).
- Connect refused for a host not allowed: 0x184 + DNR, IPO 512 (host NQN), the TCP
  connection stays open; unknown subsystem: 0x182 + DNR, IPO 256.
- `ioe-nvmet down` (subsystem unlinked from its port): every connection of its
  controllers is shut down at once (the host sees EOF within milliseconds) and the port
  stops listening (new connections are reset); `up` listens again, a new controller
  works and the namespace kept its data.
"""
import os
import re
import struct

import pytest

import nvme_tcp as nt
from qemu_guest import HOSTS, kernel_target

NQN = "nqn.2014-08.io.openebs.test:kernel-target"
SIZE_MB = 64
BS = 512
KERNEL_INLINE = 16384            # nvmet-tcp's default in-capsule data size
KERNEL_MAXH2CDATA = 0x400000
SC_SGL_DATA_LEN_INVALID = 0x00F  # generic status: Data SGL Length Invalid
SC_SGL_OFFSET_INVALID = 0x016    # generic status: SGL Offset Invalid
SC_CONNECT_INVALID_PARAM = 0x182
SC_CONNECT_INVALID_HOST = 0x184


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    with kernel_target(tmp_path_factory.mktemp("kernel-target"), NQN, size_mb=SIZE_MB) as t:
        yield t
        # nothing the tests did may have made the kernel complain
        log = t.check("dmesg")
        bad = [line for line in log.splitlines()
               if re.search(r"BUG:|WARNING:|Oops|Call Trace|general protection", line)]
        assert not bad, "kernel complained:\n" + log[-6000:]
    res = t.result
    assert res is not None and res.ready and res.rc == 0 and not res.timed_out, res.output[-4000:]


def ctrlr(t, digests=False, io_queues=1, hostnqn=nt.HOSTNQN):
    """An enabled controller on the kernel target whose I/O queues put writes of up to the
    target's in-capsule size (16 KiB) in the capsule."""
    return nt.connect_ctrlr(t.port, t.nqn, hostnqn=hostnqn, io_queues=io_queues,
                            digests=digests, incapsule_max=KERNEL_INLINE)


def close_all(adm, ios):
    for q in [adm] + list(ios):
        q.close()


def parse_id_ctrl(d):
    f = {}
    f["vid"], f["ssvid"] = struct.unpack_from("<HH", d, 0)
    f["sn"] = d[4:24].decode().rstrip()
    f["mn"] = d[24:64].decode().rstrip()
    f["fr"] = d[64:72].decode().rstrip()
    f["cmic"], f["mdts"] = d[76], d[77]
    f["cntlid"], f["ver"] = struct.unpack_from("<HI", d, 78)
    f["kas"] = struct.unpack_from("<H", d, 320)[0]
    f["sqes"], f["cqes"] = d[512], d[513]
    f["maxcmd"], f["nn"] = struct.unpack_from("<HI", d, 514)
    f["sgls"] = struct.unpack_from("<I", d, 536)[0]
    f["subnqn"] = d[768:1024].rstrip(b"\0").decode()
    f["ioccsz"], f["iorcsz"], f["icdoff"] = struct.unpack_from("<IIH", d, 1792)
    f["fcatt"], f["msdbd"] = d[1802], d[1803]
    return f


def uuid_bytes(s):
    return bytes.fromhex(s.replace("-", ""))


def write_via_r2t(q, slba, data, nsid=1):
    """A write with a transport SGL (no data in the capsule): checks that the target asks
    for the data with one R2T for the whole transfer, answers it, returns the Completion."""
    cid = q.cid()
    q.send(q.capsule(nt.sqe(nt.IO_WRITE, cid, nsid, {10: slba, 11: slba >> 32,
                                                     12: len(data) // BS - 1}, len(data))))
    p = q.recv_pdu()
    assert p.type == nt.R2T, p
    cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", p.hdr, 8)
    assert (cccid, r2to, r2tl) == (cid, 0, len(data)), (cccid, ttag, r2to, r2tl)
    q.out = data
    q.h2c(cccid, ttag, r2to, r2tl)
    c, _ = q.response()
    assert c.cid == cid, c
    return c


def test_icreq_and_digests(target):
    for hd, dd in ((False, False), (True, False), (False, True), (True, True)):
        with nt.Queue("127.0.0.1", target.port) as q:
            r = q.icreq(hdgst=hd, ddgst=dd)
            pfv, cpda, dgst, maxh2cdata = struct.unpack_from("<HBBI", r.hdr, 8)
            assert (r.hlen, r.pdo, r.plen) == (128, 0, 128)
            assert (pfv, cpda) == (0, 0)
            assert dgst == (1 if hd else 0) | (2 if dd else 0), (hd, dd, dgst)
            assert (q.hdgst, q.ddgst) == (hd, dd)
            assert maxh2cdata == KERNEL_MAXH2CDATA

    # Both digests in use, both ways: recv_pdu checks the target's, the target checks ours
    # (a wrong one closes the connection, below). Identify = C2HData with a data digest.
    adm, ios = ctrlr(target, digests=True)
    try:
        c, d = adm.identify(1)
        assert c.status == 0 and len(d) == 4096, str(c)
        assert parse_id_ctrl(d)["subnqn"] == NQN
        c = ios[0].write(7, bytes(range(256)) * 2)       # in-capsule data, data digest
        assert c.status == 0, str(c)
        c, data = ios[0].read(7, 1)
        assert c.status == 0 and data == bytes(range(256)) * 2, str(c)
    finally:
        close_all(adm, ios)

    # A wrong header digest: no C2HTermReq, the connection closes, and the controller is
    # gone (its admin queue closes too).
    adm, ios = ctrlr(target, digests=True)
    try:
        q = ios[0]
        q.send(q.capsule(nt.sqe(nt.IO_READ, q.cid(), 1, {10: 0, 12: 0}, BS), bad_hdgst=True))
        q.sock.settimeout(10)
        with pytest.raises((ConnectionError, OSError)):
            q.recv_pdu()
        assert adm.closed_by_peer(10), "admin queue still open after a fatal I/O queue error"
    finally:
        close_all(adm, ios)

    # A wrong data digest (in-capsule data): the same.
    adm, ios = ctrlr(target, digests=True)
    try:
        q = ios[0]
        s = nt.sqe(nt.IO_WRITE, q.cid(), 1, {10: 0, 12: 0}, BS, nt.SGL_INCAPSULE)
        q.send(q.capsule(s, bytes(BS), bad_ddgst=True))
        q.sock.settimeout(10)
        with pytest.raises((ConnectionError, OSError)):
            q.recv_pdu()
        assert adm.closed_by_peer(10)
    finally:
        close_all(adm, ios)
    # pfv 1 is refused: the connection closes without an ICResp
    with nt.Queue("127.0.0.1", target.port) as q:
        with pytest.raises((ConnectionError, OSError)):
            q.icreq(pfv=1)


def test_identify_and_properties(target):
    adm, ios = ctrlr(target)
    try:
        c = adm.prop_get(nt.REG_CAP, eight=True)
        assert c.status == 0, str(c)
        cap = c.dw0 | c.dw1 << 32
        assert cap & 0xFFFF == 1023          # MQES: queues of up to 1024 entries
        assert cap >> 16 & 1 == 0            # CQR: contiguous queues not required
        assert cap >> 24 & 0xFF == 15        # TO: 7.5 s
        assert cap >> 37 & 0xFF == 0x41      # CSS: NVM command set, I/O command sets
        assert cap >> 48 & 0xFF == 0         # MPSMIN = MPSMAX = 4 KiB pages
        c = adm.prop_get(0x08)               # VS
        assert c.dw0 == 0x10300, hex(c.dw0)

        c, d = adm.identify(1)
        assert c.status == 0, str(c)
        f = parse_id_ctrl(d)
        kernel = target.check("uname -r").strip()
        assert f["vid"] == 0 and f["ssvid"] == 0
        assert f["mn"] == "Linux" == target.model
        assert f["sn"] == target.serial and len(f["sn"]) == 20
        assert f["fr"] == kernel[:8], (f["fr"], kernel)
        assert f["subnqn"] == NQN
        assert f["cntlid"] == adm.cntlid
        assert f["ver"] == 0x10300
        assert f["mdts"] == 0                # no limit stated (4 MiB in fact, below)
        assert (f["sqes"], f["cqes"]) == (0x66, 0x44)
        assert (f["maxcmd"], f["nn"]) == (1024, 1024)
        assert f["sgls"] == 0x100001         # SGLs supported, SGL offsets supported
        assert f["ioccsz"] * 16 - 64 == KERNEL_INLINE, f["ioccsz"]   # 1028
        assert (f["iorcsz"], f["icdoff"], f["msdbd"]) == (1, 0, 1)
        assert f["kas"] == 10                # keep alive granularity 1 s

        # Namespace: size, 512-byte LBAs, the NGUID and UUID ioe-nvmet set.
        ns = target.namespaces[1]
        c, d = adm.identify(0, nsid=1)
        assert c.status == 0, str(c)
        nsze, ncap, nuse = struct.unpack_from("<QQQ", d, 0)
        assert nsze == ncap == SIZE_MB * 1024 * 1024 // BS, nsze
        flbas = d[26] & 0xF
        lbads = d[128 + 4 * flbas + 2]
        assert 1 << lbads == BS
        assert d[104:120] == uuid_bytes(ns["nguid"])
        c, d = adm.identify(2)               # active namespace list
        assert c.status == 0 and struct.unpack_from("<2I", d) == (1, 0)
        c, d = adm.identify(3, nsid=1)       # namespace identification descriptors
        assert c.status == 0, str(c)
        descs, off = {}, 0
        while off + 4 <= len(d) and d[off]:
            nidt, nidl = d[off], d[off + 1]
            descs[nidt] = d[off + 4:off + 4 + nidl]
            off += 4 + nidl
        assert descs[3] == uuid_bytes(ns["uuid"])
        assert descs[2] == uuid_bytes(ns["nguid"])
        assert descs[4] == b"\0"             # CSI: NVM

        # Queue limits: MQES 1023 holds for the admin and I/O queues; qid up to 128.
        for qid, sqsize, want in ((0, 1024, SC_CONNECT_INVALID_PARAM),
                                  (2, 1024, SC_CONNECT_INVALID_PARAM),
                                  (129, 31, SC_CONNECT_INVALID_PARAM),
                                  (2, 1023, 0)):
            with nt.Queue("127.0.0.1", target.port) as q:
                q.icreq()
                c = q.connect(NQN, qid=qid, sqsize=sqsize, cntlid=adm.cntlid if qid else 0xFFFF)
                assert c.status == want, (qid, sqsize, str(c))
    finally:
        close_all(adm, ios)


def test_write_read_back(target):
    pattern = os.urandom(2 << 20)
    for digests in (False, True):
        adm, ios = ctrlr(target, digests=digests)
        base = 20000 if digests else 10000   # LBAs
        try:
            q = ios[0]
            # in the capsule: one LBA, 4 KiB, 16 KiB (the target's in-capsule maximum)
            spots = [(base, 512), (base + 8, 4096), (base + 40, KERNEL_INLINE)]
            for slba, n in spots:
                c = q.write(slba, pattern[slba % 997:][:n])
                assert c.status == 0, (slba, n, str(c))
            # through R2T + H2CData: 20 KiB, 64 KiB, 1 MiB
            for slba, n in ((base + 100, 20480), (base + 200, 65536), (base + 1000, 1 << 20)):
                c = write_via_r2t(q, slba, pattern[slba % 997:][:n])
                assert c.status == 0, (slba, n, str(c))
                spots.append((slba, n))
            for slba, n in spots:
                c, data = q.read(slba, n // BS)
                assert c.status == 0, str(c)
                assert data == pattern[slba % 997:][:n], f"LBA {slba}: {n} bytes differ"
            # One R2T answered by several H2CData PDUs: fine without data digest (with it,
            # test_nvmet_tcp_quirks).
            if not digests:
                q.maxh2cdata = 8192
                c = write_via_r2t(q, base + 3000, pattern[:65536])
                q.maxh2cdata = KERNEL_MAXH2CDATA
                assert c.status == 0, str(c)
                c, data = q.read(base + 3000, 128)
                assert data == pattern[:65536]
            # never written: zeros
            c, data = q.read(base + 5000, 8)
            assert c.status == 0 and data == bytes(4096)
        finally:
            close_all(adm, ios)


def test_transfer_size_limit(target):
    """MDTS is 0 but 4 MiB is the most one command moves, reads and writes alike."""
    adm, ios = ctrlr(target)
    try:
        q = ios[0]
        big = os.urandom(4 << 20)
        c = q.write(40000, big)
        assert c.status == 0, str(c)
        c, data = q.read(40000, len(big) // BS)
        assert c.status == 0 and data == big
        # a C2HData PDU carries the whole read
        cid = q.cid()
        q.send(q.capsule(nt.sqe(nt.IO_READ, cid, 1, {10: 40000, 12: 255}, 131072)))
        p = q.recv_pdu()
        assert p.type == nt.C2H_DATA and len(p.data) == 131072, p[:5]
        assert p.flags & nt.F_LAST and not p.flags & nt.F_SUCCESS
        assert q.recv_pdu().type == nt.RSP
        # one LBA more than 4 MiB: refused at once, the queue still works
        c, _ = q.read(40000, len(big) // BS + 1)
        assert (c.status, c.dnr) == (SC_SGL_DATA_LEN_INVALID, True), str(c)
        q.out = big + bytes(BS)
        cid = q.cid()
        q.send(q.capsule(nt.sqe(nt.IO_WRITE, cid, 1, {10: 40000, 12: len(big) // BS},
                                len(big) + BS)))
        c, _ = q.response()
        assert (c.status, c.dnr) == (SC_SGL_DATA_LEN_INVALID, True), str(c)
        c, data = q.read(40000, 8)
        assert c.status == 0 and data == big[:4096]
    finally:
        close_all(adm, ios)


def test_nvmet_tcp_quirks(target):
    """Behaviour an initiator must live with (Linux 6.1's nvmet-tcp)."""
    # 1. A write that fits in the capsule (<= 16 KiB) but is sent with a transport SGL gets
    #    no R2T: the target waits for in-capsule data.
    adm, ios = ctrlr(target)
    try:
        q = ios[0]
        q.send(q.capsule(nt.sqe(nt.IO_WRITE, q.cid(), 1, {10: 0, 12: 15}, 8192)))
        q.sock.settimeout(3)
        with pytest.raises(TimeoutError):
            q.recv_pdu()
    finally:
        close_all(adm, ios)

    # 2. With data digests, one R2T answered by two H2CData PDUs: the target compares
    #    each PDU's digest with that of the whole transfer; fatal error.
    adm, ios = ctrlr(target, digests=True)
    try:
        q = ios[0]
        q.maxh2cdata = 32768
        with pytest.raises((ConnectionError, OSError)):
            write_via_r2t(q, 0, os.urandom(65536))
        assert adm.closed_by_peer(10)
    finally:
        close_all(adm, ios)

    # 3. In-capsule data over 16 KiB: SGL Offset Invalid, then the unread data is taken for
    #    PDUs and the connection dies.
    adm, ios = ctrlr(target)
    try:
        q = ios[0]
        cid = q.cid()
        s = nt.sqe(nt.IO_WRITE, cid, 1, {10: 0, 12: 39}, 20480, nt.SGL_INCAPSULE)
        q.send(q.capsule(s, bytes([0xC1]) * 20480))
        q.sock.settimeout(10)
        c, _ = q.response()
        assert (c.cid, c.status, c.dnr) == (cid, SC_SGL_OFFSET_INVALID, True), str(c)
        assert q.closed_by_peer(10)
    finally:
        close_all(adm, ios)


def test_allowed_hosts(target):
    b = HOSTS["b"].nqn
    out = target.allow(b)
    assert "allow_any_host=0" in out and b in out, out
    try:
        with nt.Queue("127.0.0.1", target.port) as q:
            q.icreq()
            c = q.connect(NQN, nt.HOSTNQN)
            assert (c.status, c.dnr) == (SC_CONNECT_INVALID_HOST, True), str(c)
            assert c.dw0 == 1 << 16 | 512    # IATTR 1 (connect data), IPO: host NQN
            assert not q.closed_by_peer(1)   # the connection stays
        adm, ios = ctrlr(target, hostnqn=b)
        close_all(adm, ios)
    finally:
        assert "allow_any_host=1" in target.allow_any()
    adm, ios = ctrlr(target)                 # anyone again
    close_all(adm, ios)
    with nt.Queue("127.0.0.1", target.port) as q:
        q.icreq()
        c = q.connect("nqn.2014-08.io.openebs.test:no-such-subsystem")
        assert (c.status, c.dw0) == (SC_CONNECT_INVALID_PARAM, 1 << 16 | 256), str(c)


def test_more_subsystems_in_guest(target):
    """ioe-nvmet's other knobs, checked with the guest's own initiator: a second subsystem
    on its own port with a smaller in-capsule size and the file backend, a second
    namespace (loop backend), fixed UUIDs; the first subsystem's port is untouched."""
    nqn2 = "nqn.2014-08.io.openebs.test:kernel-target-2"
    out = target.check(f"IOE_NVMET_INLINE=8192 IOE_NVMET_BACKING=file "
                       f"ioe-nvmet setup {nqn2} 8 4421 && ioe-nvmet add-ns {nqn2} 2 4")
    ns = {int(m.group(1)): dict(re.findall(r"(\w+)=(\S+)", m.group(0)))
          for m in re.finditer(r"^ioe-nvmet: ns=(\d+) .*$", out, re.M)}
    assert ns[1]["backing"] == "file" and ns[2]["backing"] == "loop", out
    assert "inline_data_size=8192" in out, out
    script = f"""
set -e
nvme connect -t tcp -a 10.0.2.15 -s 4421 -n {nqn2}
for i in $(seq 50); do [ -b /dev/nvme0n2 ] && break; sleep 0.1; done
nvme id-ctrl /dev/nvme0 | grep -E '^(ioccsz|subnqn) '
for n in 1 2; do
  echo "lbs$n $(cat /sys/block/nvme0n$n/queue/logical_block_size) sectors$n $(cat /sys/block/nvme0n$n/size)"
  nvme ns-descs /dev/nvme0n$n | sed -n "s/^uuid *: */uuid$n /p"
done
dd if=/dev/urandom of=/tmp/p bs=4k count=64 2>/dev/null
for n in 1 2; do
  dd if=/tmp/p of=/dev/nvme0n$n bs=4k count=64 oflag=direct 2>/dev/null
  dd if=/dev/nvme0n$n of=/tmp/q bs=4k count=64 iflag=direct 2>/dev/null
  cmp /tmp/p /tmp/q && echo "data$n ok"
done
nvme disconnect -n {nqn2} >/dev/null
ioe-nvmet status
"""
    r = target.run(script, timeout=60)
    assert r.rc == 0, r.output
    o = r.output
    assert re.search(r"^ioccsz\s*: 516$", o, re.M), o           # (64 + 8192) / 16
    assert re.search(rf"^subnqn\s*: {re.escape(nqn2)}$", o, re.M), o
    assert "lbs1 4096 sectors1 16384" in o, o                    # file backend: 4 KiB LBAs
    assert "lbs2 512 sectors2 8192" in o, o                      # loop: 512-byte LBAs
    assert f"uuid1 {ns[1]['uuid']}" in o and f"uuid2 {ns[2]['uuid']}" in o, o
    assert "data1 ok" in o and "data2 ok" in o, o
    assert f"tcp 10.0.2.15:4420 subsystems={NQN}\n" in o, o
    assert f"tcp 10.0.2.15:4421 subsystems={nqn2}\n" in o, o
    # the UUIDs are a function of the NQN: the same on every boot
    assert ns[1]["uuid"] != target.namespaces[1]["uuid"]
    assert target.reachable()


def test_down_and_up(target):
    pattern = os.urandom(256 * 1024)
    adm, ios = ctrlr(target, digests=True, io_queues=2)
    try:
        c = ios[0].write(60000, pattern[:131072])
        assert c.status == 0, str(c)
        c = ios[1].write(60256, pattern[131072:])
        assert c.status == 0, str(c)
        out = target.down()
        assert f"down nqn={NQN} port=1" in out, out
        # every queue of the controller is closed by the target, at once
        for q in [adm] + ios:
            assert q.closed_by_peer(5), "a queue stayed open after down"
        # and the port no longer listens: a new connection is reset / closed
        assert not target.reachable()
        with pytest.raises((ConnectionError, OSError)):
            nt.connect_ctrlr(target.port, NQN)
    finally:
        close_all(adm, ios)
        target.up()                           # waits until an ICReq is answered again
    adm, ios = ctrlr(target)
    try:
        c, data = ios[0].read(60000, len(pattern) // BS)
        assert c.status == 0, str(c)
        assert data == pattern, "the namespace lost data across down/up"
    finally:
        close_all(adm, ios)
