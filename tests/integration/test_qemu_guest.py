"""Self-test of the QEMU guest harness (qemu_guest.py, tests/qemu/), without the io-engine:
the guest boots with nvme-tcp, reaches TCP servers on the host's loopback through the
forwarded address (sequential and concurrent connections, a mapped port, the server's close
seen in the guest), makes and mounts ext4 on a loop file and a RAM disk, switches host
identity, and runs the kernel's own NVMe/TCP target (nvmet-tcp over configfs) that the host
reaches through hostfwd. Two boots."""
import socket
import struct
import threading
import time

from conftest import free_port
from qemu_guest import GUEST_GW, HOSTS, Guest, run_guest


class LoopbackServer:
    """A TCP server on 127.0.0.1:port; handler(conn, server) runs per connection."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.received = []
        self.open_now = 0
        self.max_open = 0
        self.accepted = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.open_now += 1
                self.max_open = max(self.max_open, self.open_now)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            c.settimeout(60)
            self.handler(c, self)
        except OSError:
            pass
        finally:
            with self.lock:
                self.open_now -= 1
            c.close()

    def close(self):
        self.sock.close()


def _readline(c):
    data = b""
    while not data.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            break
        data += d
    return data.decode().strip()


def ack_handler(c, srv):
    """Record the line received; answer 'ack:<line>'; close."""
    line = _readline(c)
    with srv.lock:
        srv.received.append(line)
    c.sendall(f"ack:{line}\n".encode())


def pair_handler(c, srv):
    """Answer each connection only once two are open at the same time, then close (the
    guest's nc must see that close: its stdin stays open)."""
    line = _readline(c)
    deadline = time.time() + 30
    while time.time() < deadline:
        with srv.lock:
            if srv.max_open >= 2:
                break
        time.sleep(0.02)
    with srv.lock:
        srv.received.append(line)
        both = srv.max_open >= 2
    c.sendall(f"{'both' if both else 'alone'}:{line}\n".encode())


GUEST_SCRIPT = r"""
set -u
fail() { echo "FAIL: $*"; exit 1; }
echo "guest: GW=$GW IOE_GW=$IOE_GW ports=[$IOE_PORTS]"
[ -d /sys/module/nvme_tcp ] && [ -d /sys/module/nvme_fabrics ] || fail "nvme-tcp not loaded"

# 1. one connection to the host's loopback
r=$(echo hello | nc $GW $P_ACK) || fail "nc rc=$?"
echo "one: $r"
[ "$r" = "ack:hello" ] || fail "one connection: got '$r'"

# 2. sequential connections (discover-then-connect opens new connections)
i=0; while [ $i -lt 10 ]; do
  r=$(echo "seq$i" | nc $GW $P_ACK); [ "$r" = "ack:seq$i" ] || fail "sequential $i: got '$r'"
  i=$((i+1))
done
echo "sequential: 10 ok"

# 3. a guest port mapped to another host port
r=$(echo mapped | nc $GW 4421); [ "$r" = "ack:mapped" ] || fail "mapped port: got '$r'"
echo "mapped: ok"

# 4. two concurrent connections. Each nc's stdin is a fifo that stays open (a writer sends
#    the line and sleeps), so nc ends only when it sees the server close the connection.
holders=; ncs=
for n in 1 2; do
  mkfifo /tmp/hold$n
  (echo "conc$n"; sleep 60) > /tmp/hold$n & holders="$holders $!"
  (timeout 20 nc $GW $P_PAIR < /tmp/hold$n > /tmp/conc$n; echo "rc=$?" >> /tmp/conc$n) & ncs="$ncs $!"
done
wait $ncs; kill $holders
for n in 1 2; do
  echo "conc$n: $(cat /tmp/conc$n | tr '\n' ' ')"
  grep -q "^both:conc$n$" /tmp/conc$n || fail "concurrent $n: $(cat /tmp/conc$n)"
  grep -q "^rc=0$" /tmp/conc$n || fail "concurrent $n: server close not seen"
done
echo "concurrent: ok"

# 5. ext4 on a loop file: mkfs, mount, write, remount, verify, fsck
dd if=/dev/zero of=/tmp/img bs=1M count=48 2>/dev/null
losetup /dev/loop0 /tmp/img || fail "losetup"
mkfs.ext4 -q -F /dev/loop0 || fail "mkfs.ext4"
mkdir -p /mnt/a && mount -t ext4 /dev/loop0 /mnt/a || fail "mount ext4"
dd if=/dev/urandom of=/mnt/a/data bs=64k count=64 2>/dev/null
S1=$(sha256sum < /mnt/a/data); umount /mnt/a
mount -t ext4 /dev/loop0 /mnt/a || fail "remount ext4"
S2=$(sha256sum < /mnt/a/data); umount /mnt/a
[ "$S1" = "$S2" ] || fail "ext4 data changed"
e2fsck -fn /dev/loop0 >/dev/null 2>&1 || fail "e2fsck"
losetup -d /dev/loop0
echo "ext4 loop: ok"

# 6. ext4 on a RAM disk (brd, loaded on demand)
modprobe brd rd_nr=1 rd_size=32768 || fail "modprobe brd"
mkfs.ext4 -q -F /dev/ram0 && mount -t ext4 /dev/ram0 /mnt/a || fail "ext4 on /dev/ram0"
echo ram > /mnt/a/f && [ "$(cat /mnt/a/f)" = ram ] || fail "ram read back"
umount /mnt/a
echo "ext4 ram: ok"

# 7. the kernel NVMe/TCP target modules and configfs
modprobe nvmet-tcp || fail "modprobe nvmet-tcp"
mount -t configfs none /sys/kernel/config || fail "mount configfs"
[ -d /sys/kernel/config/nvmet/subsystems ] || fail "no nvmet in configfs"
lsmod | grep -E '^(nvmet|nvmet_tcp|configfs) ' | awk '{print "module", $1}'
echo "nvmet: ok"
"""


def test_guest_network_ext4_nvmet():
    ack = LoopbackServer(ack_handler)
    pair = LoopbackServer(pair_handler)
    try:
        script = f"P_ACK={ack.port}; P_PAIR={pair.port}\n" + GUEST_SCRIPT
        res = run_guest(script, ports=[ack.port, pair.port, (4421, ack.port)], timeout=150)
        print(res.output)
        res.check()
        assert f"gw={GUEST_GW}" in res.output
        for s in ("one: ack:hello", "sequential: 10 ok", "mapped: ok", "concurrent: ok",
                  "ext4 loop: ok", "ext4 ram: ok", "nvmet: ok",
                  "module nvmet_tcp", "module configfs"):
            assert s in res.output, s
        assert ack.received[:1] == ["hello"]
        assert [f"seq{i}" for i in range(10)] == ack.received[1:11]
        assert "mapped" in ack.received
        assert sorted(pair.received) == ["conc1", "conc2"] and pair.max_open >= 2
    finally:
        ack.close()
        pair.close()


NVMET_SETUP = r"""
set -e
modprobe nvmet-tcp
mount -t configfs none /sys/kernel/config
N=/sys/kernel/config/nvmet
S=$N/subsystems/nqn.2024-01.io.openebs.test:guest-target
mkdir $S; echo 1 > $S/attr_allow_any_host
dd if=/dev/zero of=/tmp/ns.img bs=1M count=16 2>/dev/null; losetup /dev/loop1 /tmp/ns.img
mkdir $S/namespaces/1; echo -n /dev/loop1 > $S/namespaces/1/device_path; echo 1 > $S/namespaces/1/enable
mkdir $N/ports/1
echo tcp > $N/ports/1/addr_trtype; echo ipv4 > $N/ports/1/addr_adrfam
echo 10.0.2.15 > $N/ports/1/addr_traddr; echo 4420 > $N/ports/1/addr_trsvcid
ln -s $S $N/ports/1/subsystems/
echo "nvmet listening"
"""


def _icreq():
    # NVMe/TCP ICReq PDU: type 0, flags 0, hlen 128, pdo 0, plen 128; pfv 0, hpda 0,
    # digests off, maxr2t 0; reserved to 128 bytes.
    return struct.pack("<BBBBIHBBI", 0x00, 0, 128, 0, 128, 0, 0, 0, 0).ljust(128, b"\0")


def test_guest_interactive_hostfwd_and_kernel_target():
    hport = free_port()
    with Guest(NVMET_SETUP, hostfwd=[(hport, 4420)], interactive=True, timeout=120) as g:
        g.wait_for("NVMe TCP ready")
        r = g.run("cat /etc/nvme/hostnqn /etc/nvme/hostid")
        assert r.rc == 0 and r.output.split() == list(HOSTS["a"]), r
        r = g.run("ioe-host b >/dev/null && cat /etc/nvme/hostnqn")
        assert r.output.strip() == HOSTS["b"].nqn, r
        r = g.run(f"ioe-host {HOSTS['c'].nqn} {HOSTS['c'].hostid}; exit 3")
        assert r.rc == 3 and HOSTS["c"].nqn in r.output, r

        # The guest's own initiator discovers the guest's kernel target.
        r = g.run("nvme discover -t tcp -a 10.0.2.15 -s 4420")
        assert r.rc == 0 and "nqn.2024-01.io.openebs.test:guest-target" in r.output, r.output

        # The host reaches the guest's target through hostfwd on its loopback.
        with socket.create_connection(("127.0.0.1", hport), timeout=30) as s:
            s.sendall(_icreq())
            resp = b""
            while len(resp) < 128:
                d = s.recv(128 - len(resp))
                assert d, f"connection closed after {len(resp)} bytes"
                resp += d
        pdu_type, _flags, hlen, _pdo, plen = struct.unpack_from("<BBBBI", resp)
        assert (pdu_type, hlen, plen) == (0x01, 128, 128), resp[:8].hex()  # ICResp

        r = g.run("dmesg | grep -i nvmet | tail -3")
        assert r.rc == 0
    res = g.result
    print(res.output)
    res.check()
