"""The NVMe/TCP target against a real Linux initiator: Debian 12's kernel (nvme-tcp) and
nvme-cli in a QEMU guest (qemu_guest.py) reaching the daemon on host loopback.

Boot 1: discovery (filtered per host), connect with header and data digests, id-ctrl /
id-ns, pattern writes read back, ext4 whose file checksums survive a disconnect and
reconnect, a host that is not allowed refused, reservations with two host identities
(register, acquire write-exclusive, report, the other host's write refused and its acquire
in conflict, release), disconnect. The daemon is then restarted (its pool imported again,
the replica shared again from its persisted property). Boot 2: the file checksums of boot
1 are still right, and growing the replica while the host is connected reaches the host's
block device (namespace attribute notice, changed namespace list)."""
import re
import uuid as uuidlib

import pytest

import common_pb2
import pool_pb2
import replica_pb2
from conftest import Engine
from lvs_helpers import MiB, LvsStubs, make_image
from qemu_guest import HOSTS, Guest, run_guest

NQN0 = "nqn.2019-05.io.openebs:r0"
NQN1 = "nqn.2019-05.io.openebs:r1"

BOOT1 = r'''
set -x
fail() { echo "GUEST-FAIL: $*"; exit 1; }
P=8420
nvme discover -t tcp -a $GW -s $P > /tmp/disc || fail discover
cat /tmp/disc
grep -q "subnqn: *NQN0" /tmp/disc || fail "r0 not in the discovery log"
grep -q "subnqn: *NQN1" /tmp/disc && fail "r1 listed for a host it does not allow"
nvme connect -t tcp -a $GW -s $P -n NQN0 --hdr-digest --data-digest || fail connect
sleep 1
D=/dev/nvme0n1
[ -b $D ] || fail "no namespace"
nvme id-ctrl /dev/nvme0 > /tmp/idc || fail id-ctrl
grep -q "^mn *: Mayastor NVMe controller" /tmp/idc || fail "model number"
grep -q "^sn *: DCS" /tmp/idc || fail "serial number"
grep -q "^subnqn *: NQN0" /tmp/idc || fail "subnqn"
nvme id-ns $D > /tmp/idn || fail id-ns
grep "^nsze" /tmp/idn
# pattern writes, read back
dd if=/dev/urandom of=/tmp/a bs=64k count=64 2>/dev/null
dd if=/tmp/a of=$D bs=64k count=64 seek=3 oflag=direct || fail "write"
dd if=$D of=/tmp/b bs=64k count=64 skip=3 iflag=direct || fail "read"
cmp /tmp/a /tmp/b || fail "data differs"
echo PATTERN-OK
# a filesystem
mkfs.ext4 -q -F $D || fail mkfs
mkdir -p /mnt/r0 && mount -t ext4 $D /mnt/r0 || fail mount
for i in 1 2 3 4; do dd if=/dev/urandom of=/mnt/r0/f$i bs=1k count=$((i * 300)) 2>/dev/null; done
(cd /mnt/r0 && sha256sum f1 f2 f3 f4) > /tmp/sums
sync
umount /mnt/r0 || fail umount
nvme disconnect -n NQN0 || fail disconnect
sleep 1
nvme connect -t tcp -a $GW -s $P -n NQN0 --hdr-digest --data-digest || fail reconnect
sleep 1
mount -t ext4 /dev/nvme0n1 /mnt/r0 || fail remount
(cd /mnt/r0 && sha256sum -c /tmp/sums) || fail "checksums after reconnect"
sed 's/^/SUM /' /tmp/sums
umount /mnt/r0
echo FS-OK
# a host that is not allowed
nvme connect -t tcp -a $GW -s $P -n NQN1 && fail "connected to r1 as a host it does not allow"
echo REFUSED-OK
# reservations: host a holds write-exclusive; host b (a second controller) is refused
nvme resv-register /dev/nvme0n1 -n 1 --nrkey=0xa1 --rrega=0 || fail "register a"
nvme resv-acquire /dev/nvme0n1 -n 1 --crkey=0xa1 --rtype=1 --racqa=0 || fail "acquire a"
# (nvme-cli refuses a second connection to the same address and subsystem even with
# another host NQN: host b comes through a second forwarded port to the same target)
nvme connect -t tcp -a $GW -s 8421 -n NQN0 --hostnqn=HOSTB_NQN --hostid=HOSTB_ID || fail "connect b"
sleep 1
B=$(ls /dev/nvme*n1 | grep -v '^/dev/nvme0n1$' | head -1)
[ -b "$B" ] || fail "no namespace for host b"
nvme resv-report /dev/nvme0n1 -n 1 --eds -o json > /tmp/rep || fail "report"
cat /tmp/rep
grep -q '"rtype" *: *1' /tmp/rep || fail "report: type"
grep -q '"rkey" *: *161' /tmp/rep || fail "report: key"
dd if=$B of=/dev/null bs=4k count=1 iflag=direct || fail "host b read under write-exclusive"
dd if=/tmp/a of=$B bs=4k count=1 oflag=direct && fail "host b wrote under host a's reservation"
nvme resv-register $B -n 1 --nrkey=0xb2 --rrega=0 || fail "register b"
nvme resv-acquire $B -n 1 --crkey=0xb2 --rtype=1 --racqa=0 && fail "host b acquired a held reservation"
nvme resv-release /dev/nvme0n1 -n 1 --crkey=0xa1 --rtype=1 --rrela=0 || fail "release a"
dd if=/tmp/a of=$B bs=4k count=1 seek=1000 oflag=direct || fail "host b write after release"
echo RESV-OK
nvme disconnect-all
echo BOOT1-DONE
'''

BOOT2 = r'''
set -x
fail() { echo "GUEST-FAIL: $*"; exit 1; }
nvme connect -t tcp -a $GW -s 8420 -n NQN0 --hdr-digest --data-digest || fail connect
sleep 1
mkdir -p /mnt/r0 && mount -t ext4 /dev/nvme0n1 /mnt/r0 || fail mount
(cd /mnt/r0 && sha256sum -c /tmp/sums) || fail "checksums after the daemon restart"
umount /mnt/r0
# the host test grows the replica now: the kernel hears of it (namespace attribute event)
echo READY-FOR-RESIZE
s=0
for i in $(seq 1 60); do s=$(cat /sys/block/nvme0n1/size); [ "$s" -gt 131072 ] && break; sleep 1; done
echo "SIZE-NOW $s"
[ "$s" = 196608 ] || fail "the new size was not seen"
nvme disconnect -n NQN0 || fail disconnect
echo BOOT2-DONE
'''


def fill(script):
    b = HOSTS["b"]
    return (script.replace("NQN0", NQN0).replace("NQN1", NQN1)
            .replace("HOSTB_NQN", b.nqn).replace("HOSTB_ID", b.hostid))


def test_linux_initiator(tmp_path):
    img = make_image(tmp_path / "pool.img", 256 * MiB)
    (tmp_path / "e1").mkdir()
    e = Engine(["-l", "0,1"], tmpdir=str(tmp_path / "e1"))
    e.start()
    port = e.nvmf_port
    try:
        s = LvsStubs(e)
        s.pool.CreatePool(pool_pb2.CreatePoolRequest(name="p0", disks=[f"aio://{img}"]))
        r0 = s.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
            name="r0", uuid=str(uuidlib.uuid4()), pooluuid="p0", size=64 * MiB, thin=True,
            share=common_pb2.NVMF))
        s.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
            name="r1", uuid=str(uuidlib.uuid4()), pooluuid="p0", size=16 * MiB,
            share=common_pb2.NVMF, allowed_hosts=[HOSTS["c"].nqn]))
        res = run_guest(fill(BOOT1), ports=[(8420, port), (8421, port)], timeout=400,
                        append="nvme_core.multipath=N", log_path=str(tmp_path / "guest1.log"))
        out = res.output
        for marker in ("PATTERN-OK", "FS-OK", "REFUSED-OK", "RESV-OK", "BOOT1-DONE"):
            assert marker in out, out[-8000:]
        assert res.rc == 0, out[-8000:]
        sums = "".join(m + "\n" for m in re.findall(r"^SUM (\S+  f\d)\s*$", out, re.M))
        assert sums.count("\n") == 4, out[-4000:]
        s.close()
    finally:
        rc = e.stop()
    assert rc == 0, e.output()[-4000:]
    e.assert_clean()

    # Restart on the same ports: the pool is imported and r0 shared again.
    (tmp_path / "e2").mkdir()
    e2 = Engine(["-l", "0,1"], tmpdir=str(tmp_path / "e2"), nvmf_ports=(port, e.nexus_port))
    e2.start()
    try:
        s = LvsStubs(e2)
        s.pool.ImportPool(pool_pb2.ImportPoolRequest(name="p0", disks=[f"aio://{img}"]))
        got = {x.name: x for x in s.replica.ListReplicas(replica_pb2.ListReplicaOptions()).replicas}
        assert got["r0"].share == common_pb2.NVMF and got["r0"].uuid == r0.uuid
        g = Guest(fill(BOOT2), ports=[(8420, port)], timeout=300, files={"/tmp/sums": sums},
                  log_path=str(tmp_path / "guest2.log")).start()
        try:
            g.wait_for("READY-FOR-RESIZE", timeout=200)
            s.replica.ResizeReplica(replica_pb2.ResizeReplicaRequest(uuid=r0.uuid,
                                                                     requested_size=96 * MiB))
            res = g.wait()
        finally:
            g.kill()
        assert "BOOT2-DONE" in res.output and res.rc == 0, res.output[-6000:]
        s.close()
    finally:
        rc = e2.stop()
    assert rc == 0, e2.output()[-4000:]
    e2.assert_clean()
