#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_nvmf_pdu (tests/fuzz/corpus/nvmf_pdu/): valid NVMe/TCP
byte streams of one connection, built with the tests' host (tests/integration/nvme_tcp.py).
usage: tests/fuzz/make_corpus.py"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nvme_tcp as nt  # noqa: E402

DISC = nt.DISCOVERY_NQN


def stream(dg, *capsules):
    """ICReq, then each (sqe, data) as a command capsule, digests if dg."""
    out = nt.icreq_pdu(dg, dg)
    for s, data in capsules:
        out += nt.pdu(nt.CMD, s, data, hdgst=dg, ddgst=dg)
    return out


def connect(cid=1, qid=0, cntlid=0xFFFF):
    return nt.connect_sqe(cid, qid, kato=10000), nt.connect_data(DISC, cntlid=cntlid)


def session(dg):
    return stream(dg, connect(),
                  (nt.sqe(nt.FABRICS, 2, cdw={10: 0, 11: nt.REG_CC, 12: 0x460001},
                          fctype=nt.FC_PROP_SET), b""),
                  (nt.sqe(nt.FABRICS, 3, cdw={10: 0, 11: nt.REG_CSTS}, fctype=nt.FC_PROP_GET), b""),
                  (nt.sqe(nt.FABRICS, 4, cdw={10: 1, 11: nt.REG_CAP}, fctype=nt.FC_PROP_GET), b""),
                  (nt.sqe(nt.ADM_IDENTIFY, 5, 0, {10: 1}, 4096), b""),
                  (nt.sqe(nt.ADM_GET_LOG, 6, 0, {10: 0x70 | 1023 << 16}, 4096), b""),
                  (nt.sqe(0x09, 7, 0, {10: 0x0F, 11: 5000}), b""),   # Set Features KATO
                  (nt.sqe(0x0C, 8), b""),                           # Async Event Request
                  (nt.sqe(0x18, 9), b""))                           # Keep Alive


def write_r2t():
    s = nt.sqe(nt.IO_WRITE, 3, 1, {12: 15}, 8192)
    return stream(False, (s, b"")) + nt.pdu(nt.H2C_DATA, nt.h2c_psh(3, 0, 0, 8192),
                                           bytes(range(256)) * 32, nt.F_LAST)


def connect_r2t():
    return (stream(False, (nt.connect_sqe(1, sgl_type=nt.SGL_TRANSPORT), b""))
            + nt.pdu(nt.H2C_DATA, nt.h2c_psh(1, 0, 0, 1024), nt.connect_data(DISC), nt.F_LAST))


SEEDS = {
    "icreq": nt.icreq_pdu(),
    "icreq_digests": nt.icreq_pdu(True, True, hpda=3),
    "connect": stream(False, connect()),
    "session": session(False),
    "session_digests": session(True),
    "io_connect_refused": stream(False, connect(1, qid=1, cntlid=1)),
    "connect_r2t": connect_r2t(),
    "write_in_capsule": stream(False, (nt.sqe(nt.IO_WRITE, 2, 1, {}, 512, nt.SGL_INCAPSULE),
                                       bytes(512))),
    "write_r2t": write_r2t(),
    "read": stream(False, (nt.sqe(nt.IO_READ, 4, 1, {12: 7}, 4096), b"")),
    "h2c_data": nt.icreq_pdu() + nt.pdu(nt.H2C_DATA, nt.h2c_psh(1, 0, 0, 512), bytes(512),
                                        nt.F_LAST),
    "h2c_term": nt.icreq_pdu() + nt.ch(nt.H2C_TERM, 0, 24, 0, 32) + bytes(24),
}

if __name__ == "__main__":
    out = os.path.join(HERE, "corpus", "nvmf_pdu")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")
