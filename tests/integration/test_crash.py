"""Crash consistency of pools and replicas: what the daemon acknowledged survives `kill -9`.

One pool on a sparse file holds thin and thick replicas. Each cycle starts the daemon
(the first creates the pool, the others import it, alternately through ImportPool and
through CreatePool's create-or-import, and alternately over aio:// and uring://), checks
everything the previous cycles acknowledged, then runs at once:

- writer threads, each with its own JSON-RPC connection, doing verified random writes
  (`ioe_bdev_write` answers only after write + flush) to random replicas;
- a metadata thread (its own gRPC channel and JSON-RPC connection) creating and
  destroying extra replicas (which it writes a little data to), growing replicas, and,
  once `SnapshotRpc.CreateReplicaSnapshot` no longer answers UNIMPLEMENTED, creating and
  destroying snapshots;

and kills the daemon with SIGKILL at a random moment. The model records a change only
when the daemon answered it; a change that was sent but not answered is "in flight" and
may have happened or not, but wholly: a replica created or destroyed in flight exists
with its name, uuid, size and thin flag, or not at all; a write in flight leaves each
device block either old or new.

After the restart and import: every acknowledged write reads back, every replica is
there with its acknowledged size (or the in-flight one), the pool's accounting equals
the sum over its lvols (`used` = Σ allocated bytes, `committed` = Σ sizes, snapshots
counting their allocated bytes), thick replicas are fully allocated, the log shows no
metadata error, and an export + import (the clean path) gives the same pool again.

IOE_CRASH_CYCLES (default 20) sets the number of cycles, IOE_CRASH_SEED the seed (printed
on failure); tests/soak/crash-soak.sh runs many cycles."""
import base64
import os
import random
import shutil
import signal
import threading
import time
import uuid as uuidlib

import grpc

import pool_pb2
import pool_pb2_grpc
import replica_pb2
import replica_pb2_grpc
import snapshot_pb2
import snapshot_pb2_grpc
from conftest import Engine
from jsonrpc_client import JsonRpcClient

MiB = 1 << 20
KiB = 1 << 10
POOL = "crashpool"
DISK_BYTES = 256 * MiB
CLUSTER = MiB
FIXED = [("t0", True), ("t1", True), ("k0", False), ("k1", False)]  # (name, thin)
FIXED_START, FIXED_CAP = 6 * MiB, 16 * MiB
EXTRA_MAX, EXTRA_CAP = 4, 8 * MiB
SNAP_MAX = 3
WRITERS = 3
DEADLINE = 15  # seconds, for every call made while the daemon is expected to be alive

CYCLES = int(os.environ.get("IOE_CRASH_CYCLES", "20"))
SEED = int(os.environ.get("IOE_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
KEEP_LOGS = 3  # logs of the last cycles kept in the test's tmp dir

# Log lines that mean the metadata was found damaged (anything at error level, plus the
# blobstore's recovery warnings that a clean load must never need).
BAD_LOG = (" ERROR ", "[ERROR]", "error:", "clean masks are inconsistent",
           "not marked in the clean masks", "is not in use after recovery")


def roundup(n, m):
    return (n + m - 1) // m * m


class CrashFailure(AssertionError):
    pass


# ---- the model ------------------------------------------------------------------------

class Image:
    """What a replica must contain: the bytes of acknowledged writes, and which device
    blocks are known (never-written blocks of a replica may hold anything)."""

    def __init__(self, size):
        self.data = bytearray(size)
        self.known = bytearray(size // 512)  # per 512-byte sector: 1 = known

    def grow(self, size):
        if size > len(self.data):
            self.data.extend(bytes(size - len(self.data)))
            self.known.extend(bytes(size // 512 - len(self.known)))

    def write(self, off, data):
        self.data[off:off + len(data)] = data
        self.known[off // 512:(off + len(data)) // 512] = b"\1" * (len(data) // 512)

    def known_ranges(self, limit, chunk=1 * MiB):
        """Coalesced (offset, length) ranges of known sectors below limit, in chunks."""
        k = self.known[:limit // 512]
        i, n = 0, len(k)
        while i < n:
            j = k.find(1, i)
            if j < 0:
                return
            e = k.find(0, j)
            e = n if e < 0 else e
            for o in range(j * 512, e * 512, chunk):
                yield o, min(chunk, e * 512 - o)
            i = e


class Model:
    def __init__(self):
        self.lock = threading.Lock()
        # uuid -> dict(name, uuid, size, thin, fixed, image)
        self.replicas = {}
        # snapshot uuid -> dict(name, uuid, source, image or None, destroyed). A destroyed
        # snapshot that still has clones may stay, marked discarded (behaviour §7), until
        # its last clone goes.
        self.snapshots = {}
        self.busy = []  # (replica uuid, start, end) of writes being sent now
        self.inflight_writes = []  # (replica uuid, offset, data) not answered at the crash
        self.inflight_meta = []  # dicts: the metadata change not answered at the crash
        self.history = []  # recent acknowledged events, for failure reports
        # how the changes in flight at the crashes turned out
        self.outcomes = dict(sectors_new=0, sectors_old=0, meta_done=0, meta_not=0)

    def note(self, s):
        self.history.append(s)
        del self.history[:-40]


# ---- the daemon and its clients ---------------------------------------------------------

class Client:
    def __init__(self, engine):
        self.ch = grpc.insecure_channel(engine.endpoint)
        self.pool = pool_pb2_grpc.PoolRpcStub(self.ch)
        self.replica = replica_pb2_grpc.ReplicaRpcStub(self.ch)
        self.snap = snapshot_pb2_grpc.SnapshotRpcStub(self.ch)
        self.rpc = JsonRpcClient(engine.sock, timeout=DEADLINE)

    def close(self):
        self.rpc.close()
        self.ch.close()

    def lvols(self):
        return list(self.replica.ListReplicas(replica_pb2.ListReplicaOptions(),
                                              timeout=DEADLINE).replicas)

    def pools(self):
        return list(self.pool.ListPools(pool_pb2.ListPoolOptions(), timeout=DEADLINE).pools)

    def snapshots(self):
        return list(self.snap.ListSnapshot(snapshot_pb2.ListSnapshotsRequest(),
                                           timeout=DEADLINE).snapshots)


def snapshots_enabled(cl):
    try:
        cl.snap.CreateReplicaSnapshot(snapshot_pb2.CreateReplicaSnapshotRequest(),
                                      timeout=DEADLINE)
    except grpc.RpcError as e:
        return e.code() != grpc.StatusCode.UNIMPLEMENTED
    return True


# ---- the load ---------------------------------------------------------------------------

class Load:
    def __init__(self, engine, model, rnd, cycle, snaps):
        self.engine, self.m, self.cycle, self.snaps = engine, model, cycle, snaps
        self.stop = threading.Event()
        self.killed = threading.Event()
        self.errors = []
        self.seeds = [rnd.randrange(1 << 32) for _ in range(WRITERS + 1)]
        self.counts = {"writes": 0, "meta": 0}

    def fail(self, what):
        self.errors.append(what)
        self.stop.set()

    # writers

    def writer(self, k):
        rnd = random.Random(self.seeds[k])
        m = self.m
        try:
            rpc = JsonRpcClient(self.engine.sock, timeout=DEADLINE)
        except OSError as e:
            if not self.killed.is_set():
                self.fail(f"writer {k}: cannot connect: {e}")
            return
        try:
            while not self.stop.is_set():
                with m.lock:
                    fixed = [r for r in m.replicas.values() if r["fixed"]]
                    r = rnd.choice(fixed)
                    size = r["size"]
                    n = rnd.choice((1, 1, 2, 4, 8, 16, 64)) * 4 * KiB
                    off = rnd.randrange(0, (size - n) // (4 * KiB) + 1) * 4 * KiB
                    if any(u == r["uuid"] and s < off + n and off < e for u, s, e in m.busy):
                        continue
                    ent = (r["uuid"], off, off + n)
                    m.busy.append(ent)
                    data = rnd.randbytes(n)
                    wr = (r["uuid"], off, data)
                    m.inflight_writes.append(wr)
                try:
                    resp = rpc.call("ioe_bdev_write", {
                        "name": r["name"], "offset": off,
                        "data": base64.b64encode(data).decode()})
                except (EOFError, OSError) as e:
                    if not self.killed.is_set():
                        self.fail(f"writer {k}: connection lost while the daemon runs: {e!r}")
                    return  # stays in flight
                except Exception as e:
                    self.fail(f"writer {k}: {e!r}")
                    return
                with m.lock:
                    m.inflight_writes.remove(wr)
                    m.busy.remove(ent)
                    if "error" in resp:
                        self.fail(f"write {r['name']} @{off}+{n} failed: {resp['error']}")
                        return
                    r["image"].write(off, data)
                    self.counts["writes"] += 1
        finally:
            rpc.close()

    # metadata

    def meta(self):
        rnd = random.Random(self.seeds[WRITERS])
        try:
            cl = Client(self.engine)
        except OSError as e:
            if not self.killed.is_set():
                self.fail(f"metadata: cannot connect: {e}")
            return
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                ops = ["create", "destroy", "resize", "resize"]
                if self.snaps:
                    ops += ["snapshot", "snapshot_destroy"]
                op = rnd.choice(ops)
                try:
                    getattr(self, "op_" + op)(cl, rnd, f"x{self.cycle}-{n}")
                except grpc.RpcError as e:
                    if not self.killed.is_set():
                        self.fail(f"metadata {op} failed: {e.code()} {e.details()}")
                    return  # killed: the change in m.inflight_meta stays in flight
                except (EOFError, OSError) as e:
                    if not self.killed.is_set():
                        self.fail(f"metadata {op}: connection lost: {e!r}")
                    return
                except Exception as e:  # a wrong answer (AssertionError) or a bug here
                    self.fail(f"metadata {op}: {e!r}")
                    return
                self.counts["meta"] += 1
                time.sleep(rnd.uniform(0, 0.03))
        finally:
            cl.close()

    def _begin(self, change):
        with self.m.lock:
            self.m.inflight_meta.append(change)

    def _end(self, change, note):
        # caller holds m.lock
        self.m.inflight_meta.remove(change)
        self.m.note(note)

    def op_create(self, cl, rnd, name):
        m = self.m
        with m.lock:
            extras = [r for r in m.replicas.values() if not r["fixed"]]
        if len(extras) >= EXTRA_MAX:
            return self.op_destroy(cl, rnd, name)
        thin = rnd.random() < 0.5
        size = rnd.randrange(1, EXTRA_CAP // MiB // 2 + 1) * MiB - rnd.choice((0, 4096))
        u = str(uuidlib.uuid4())
        want = dict(name=name, uuid=u, size=roundup(size, CLUSTER), thin=thin, fixed=False)
        ch = dict(op="create", **want)
        self._begin(ch)
        try:
            r = cl.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
                name=name, uuid=u, pooluuid=POOL, size=size, thin=thin), timeout=DEADLINE)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                with m.lock:
                    self._end(ch, f"create {name} refused: no space")
                return
            raise
        assert (r.name, r.uuid, r.size, r.thin) == (name, u, want["size"], thin), r
        with m.lock:
            m.replicas[u] = dict(want, image=Image(want["size"]))
            self._end(ch, f"created {name} {u} size={r.size} thin={thin}")
        # A little data of its own, written by this thread only.
        n = rnd.choice((1, 4, 16)) * 4 * KiB
        off = rnd.randrange(0, (want["size"] - n) // (4 * KiB) + 1) * 4 * KiB
        data = rnd.randbytes(n)
        wr = (u, off, data)
        with m.lock:
            m.inflight_writes.append(wr)
        cl.rpc.write(name, off, data)
        with m.lock:
            m.inflight_writes.remove(wr)
            m.replicas[u]["image"].write(off, data)

    def op_destroy(self, cl, rnd, _name):
        m = self.m
        with m.lock:
            extras = [r for r in m.replicas.values() if not r["fixed"]]
        if not extras:
            return
        r = rnd.choice(extras)
        ch = dict(op="destroy", uuid=r["uuid"], name=r["name"], size=r["size"], thin=r["thin"])
        self._begin(ch)
        cl.replica.DestroyReplica(replica_pb2.DestroyReplicaRequest(uuid=r["uuid"]),
                                  timeout=DEADLINE)
        with m.lock:
            del m.replicas[r["uuid"]]
            self._end(ch, f"destroyed {r['name']} {r['uuid']}")

    def op_resize(self, cl, rnd, _name):
        m = self.m
        with m.lock:
            cands = [r for r in m.replicas.values()
                     if r["size"] < (FIXED_CAP if r["fixed"] else EXTRA_CAP)]
        if not cands:
            return
        r = rnd.choice(cands)
        cap = FIXED_CAP if r["fixed"] else EXTRA_CAP
        new = min(cap, r["size"] + rnd.randrange(1, 4) * CLUSTER)
        ch = dict(op="resize", uuid=r["uuid"], name=r["name"], old=r["size"], size=new)
        self._begin(ch)
        try:
            got = cl.replica.ResizeReplica(replica_pb2.ResizeReplicaRequest(
                uuid=r["uuid"], requested_size=new), timeout=DEADLINE)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                with m.lock:
                    self._end(ch, f"resize {r['name']} refused: no space")
                return
            raise
        assert got.size == new, got
        with m.lock:
            r["size"] = new
            r["image"].grow(new)
            self._end(ch, f"resized {r['name']} to {new}")

    def op_snapshot(self, cl, rnd, name):
        m = self.m
        with m.lock:
            full = len(m.snapshots) >= SNAP_MAX
            # A fixed replica is snapshotted once at most: its (discarded) snapshots stay as
            # long as it does.
            cands = [r for r in m.replicas.values() if not (r["fixed"] and r.get("snapped"))]
            src = rnd.choice(cands) if cands else None
            # An extra replica is written by this thread only: its snapshot's content is
            # known. A fixed one is written meanwhile: only its own content is checked.
            image = None
            if src and not src["fixed"]:
                image = Image(src["size"])
                image.data[:] = src["image"].data
                image.known[:] = src["image"].known
        if full or not src:
            return self.op_snapshot_destroy(cl, rnd, name)
        u = str(uuidlib.uuid4())
        ch = dict(op="snapshot", uuid=u, name="s" + name, source=src["uuid"], image=image)
        with m.lock:
            src["snapped"] = True  # may become thin (a clone of the snapshot) from now on
            m.inflight_meta.append(ch)
        cl.snap.CreateReplicaSnapshot(snapshot_pb2.CreateReplicaSnapshotRequest(
            replica_uuid=src["uuid"], snapshot_uuid=u, snapshot_name="s" + name,
            entity_id="crash", txn_id=name), timeout=DEADLINE)
        with m.lock:
            m.snapshots[u] = dict(name="s" + name, uuid=u, source=src["uuid"], image=image,
                                  destroyed=False)
            self._end(ch, f"snapshot s{name} {u} of {src['name']}")

    def op_snapshot_destroy(self, cl, rnd, _name):
        m = self.m
        with m.lock:
            live = [x for x in m.snapshots.values() if not x["destroyed"]]
            if not live:
                return
            s = rnd.choice(live)
        ch = dict(op="snapshot_destroy", uuid=s["uuid"], name=s["name"])
        self._begin(ch)
        cl.snap.DestroySnapshot(snapshot_pb2.DestroySnapshotRequest(snapshot_uuid=s["uuid"]),
                                timeout=DEADLINE)
        with m.lock:
            s["destroyed"] = True
            self._end(ch, f"destroyed snapshot {s['name']}")

    def run(self, kill_after):
        threads = [threading.Thread(target=self.writer, args=(k,), daemon=True)
                   for k in range(WRITERS)]
        threads.append(threading.Thread(target=self.meta, daemon=True))
        for t in threads:
            t.start()
        self.stop.wait(kill_after)
        self.killed.set()
        self.engine.proc.send_signal(signal.SIGKILL)
        self.engine.proc.wait()
        self.stop.set()
        for t in threads:
            t.join(DEADLINE + 5)
            if t.is_alive():
                self.errors.append("a load thread did not end after the kill")
        return self.errors


# ---- the checks -------------------------------------------------------------------------

def check_lvols(cl, m, snaps):
    """Replicas and snapshots after a restart, against the model; resolves the changes
    that were in flight and updates the model to what the daemon has."""
    errs = []
    lvols = cl.lvols()
    reps = {r.uuid: r for r in lvols if not r.is_snapshot}
    snap_lvols = {r.uuid: r for r in lvols if r.is_snapshot}
    inflight = {c["uuid"]: c for c in m.inflight_meta}

    def same(r, want, size=None):
        # A snapshotted replica becomes a thin clone of its snapshot.
        thin = r.thin if want.get("snapped") and r.thin else want["thin"]
        return (r.name, r.uuid, r.size, r.thin, r.poolname) == (
            want["name"], want["uuid"], want["size"] if size is None else size, thin, POOL)

    for u, want in list(m.replicas.items()):
        ch = inflight.get(u)
        r = reps.get(u)
        if r is None:
            if ch and ch["op"] == "destroy":
                del m.replicas[u]  # the destroy happened
                continue
            errs.append(f"replica {want['name']} {u} (acknowledged) is missing")
            continue
        sizes = {want["size"]}
        if ch and ch["op"] == "resize":
            sizes.add(ch["size"])
        if r.size not in sizes or not same(r, want, r.size):
            errs.append(f"replica {want['name']}: daemon has name={r.name} size={r.size} "
                        f"thin={r.thin} pool={r.poolname}; acknowledged {want['name']} "
                        f"size={sorted(sizes)} thin={want['thin']}")
        want["size"] = r.size
        want["image"].grow(r.size)
    for u, r in reps.items():
        if u in m.replicas:
            continue
        ch = inflight.get(u)
        if ch and ch["op"] == "create":
            if same(r, ch):
                m.replicas[u] = dict({k: ch[k] for k in ("name", "uuid", "size", "thin")},
                                     fixed=False, image=Image(ch["size"]))
                continue
            errs.append(f"replica {r.name} created in flight is not whole: size={r.size} "
                        f"thin={r.thin}, wanted {ch}")
        else:
            errs.append(f"replica {r.name} {u} size={r.size} exists but was never created "
                        f"(or its destroy was acknowledged)")
    # Snapshots: a destroyed one may remain only as discarded (it has clones).
    discarded = {}
    if snaps:
        discarded = {x.snapshot_uuid: x.discarded_snapshot for x in cl.snapshots()}
    for u, want in list(m.snapshots.items()):
        ch = inflight.get(u)
        if u not in snap_lvols:
            if want["destroyed"] or (ch and ch["op"] == "snapshot_destroy"):
                del m.snapshots[u]
                continue
            errs.append(f"snapshot {want['name']} {u} (acknowledged) is missing")
        elif ch and ch["op"] == "snapshot_destroy" and discarded.get(u):
            want["destroyed"] = True
        elif want["destroyed"] and not discarded.get(u):
            errs.append(f"snapshot {want['name']} {u}: destroyed (acknowledged) but is there "
                        f"and not discarded")
    for u, r in snap_lvols.items():
        if u in m.snapshots:
            continue
        ch = inflight.get(u)
        if ch and ch["op"] == "snapshot":
            m.snapshots[u] = dict(name=ch["name"], uuid=u, source=ch["source"],
                                  image=ch["image"], destroyed=False)
            continue
        errs.append(f"snapshot {r.name} {u} exists but was never created")
    for ch in m.inflight_meta:
        u = ch["uuid"]
        done = {"create": u in reps, "destroy": u not in reps,
                "resize": u in reps and reps[u].size == ch["size"],
                "snapshot": u in snap_lvols,
                "snapshot_destroy": u not in snap_lvols or bool(discarded.get(u))}[ch["op"]]
        m.outcomes["meta_done" if done else "meta_not"] += 1
    m.inflight_meta = []
    return errs, lvols


def check_accounting(cl, lvols):
    errs = []
    [p] = cl.pools()
    used = sum(r.usage.allocated_bytes for r in lvols)
    committed = sum(r.usage.allocated_bytes if r.is_snapshot else r.size for r in lvols)
    if p.used != used:
        errs.append(f"pool used={p.used} but its lvols have {used} bytes allocated: " + ", ".join(
            f"{r.name}:{r.usage.num_allocated_clusters}/{r.usage.num_clusters}" for r in lvols))
    if p.committed != committed:
        errs.append(f"pool committed={p.committed} but its lvols sum to {committed}")
    if not 0 <= p.used <= p.capacity:
        errs.append(f"pool used={p.used} outside 0..capacity={p.capacity}")
    for r in lvols:
        u = r.usage
        if u.allocated_bytes != u.num_allocated_clusters * u.cluster_size or \
                u.num_clusters * u.cluster_size != r.size:
            errs.append(f"{r.name}: inconsistent usage {u}")
        if not r.thin and not r.is_snapshot and not r.is_clone and \
                u.num_allocated_clusters != u.num_clusters:
            errs.append(f"thick replica {r.name} has {u.num_allocated_clusters} of "
                        f"{u.num_clusters} clusters allocated")
        if u.num_allocated_clusters > u.num_clusters:
            errs.append(f"{r.name}: {u.num_allocated_clusters} of {u.num_clusters} allocated")
    return errs, p


def check_data(rpc, m):
    """Every known sector reads back; a sector under a write that was in flight may hold
    the old or the new data (the model takes what is there)."""
    errs = []
    alt = {}  # (uuid, sector) -> new data of the write in flight
    for u, off, data in m.inflight_writes:
        for i in range(0, len(data), 512):
            alt[(u, (off + i) // 512)] = data[i:i + 512]
    inflight_ranges = {}
    for u, off, data in m.inflight_writes:
        inflight_ranges.setdefault(u, []).append((off, len(data)))
    for u, r in sorted(m.replicas.items(), key=lambda x: x[1]["name"]):
        bad = []  # [uuid, first sector, end sector, what]
        img = r["image"]
        ranges = list(img.known_ranges(r["size"]))
        # Sectors under an in-flight write that were not known: read them too.
        ranges += [(o, n) for o, n in inflight_ranges.get(u, []) if o + n <= r["size"]]
        for off, n in ranges:
            got = rpc.read(r["name"], off, n)
            for i in range(0, n, 512):
                s = (off + i) // 512
                g = got[i:i + 512]
                old = bytes(img.data[off + i:off + i + 512]) if img.known[s] else None
                new = alt.get((u, s))
                if g == new:
                    m.outcomes["sectors_new"] += 1
                    img.data[off + i:off + i + 512] = g
                    img.known[s] = 1
                    continue
                if new is not None:
                    m.outcomes["sectors_old"] += 1
                if g == old:
                    continue
                if old is None:  # never written: anything; the write in flight did not land
                    continue
                if bad and bad[-1][0] == u and bad[-1][2] == s:
                    bad[-1][2] = s + 1
                    continue
                bad.append([u, s, s + 1, f"reads {g[:16].hex()}..., acknowledged "
                            f"{old[:16].hex()}...{', in flight ' + new[:16].hex() if new else ''}"])
        for bu, b, e, what in bad:
            errs.append(f"replica {r['name']} {bu}: sectors {b}..{e - 1} (offset {b * 512}, "
                        f"{(e - b) * 512} bytes) differ: first {what}")
        if len(errs) > 20:
            return errs
    m.inflight_writes = []
    return errs


def check_snapshot_data(rpc, m):
    errs = []
    for s in m.snapshots.values():
        img = s["image"]
        if img is None or s["destroyed"]:
            continue
        for off, n in img.known_ranges(len(img.data)):
            got = rpc.read(s["name"], off, n)
            if got != bytes(img.data[off:off + n]):
                errs.append(f"snapshot {s['name']}: data at {off}+{n} differs")
                break
    return errs


def check_log(text):
    errs = []
    for i, line in enumerate(text.splitlines()):
        if any(b in line for b in BAD_LOG):
            errs.append(f"log line {i + 1}: {line}")
    return errs


# ---- the test ---------------------------------------------------------------------------

def pool_call(cl, create, scheme, img, want_uuid):
    disk = f"{scheme}://{img}"
    if create:
        return cl.pool.CreatePool(pool_pb2.CreatePoolRequest(
            name=POOL, disks=[disk], cluster_size=CLUSTER), timeout=DEADLINE)
    return cl.pool.ImportPool(pool_pb2.ImportPoolRequest(name=POOL, disks=[disk]),
                              timeout=DEADLINE)


def test_crash_consistency(tmp_path):
    rnd = random.Random(SEED)
    img = str(tmp_path / "pool.img")
    with open(img, "wb") as f:
        f.truncate(DISK_BYTES)
    m = Model()
    pool_uuid = None
    stats = {"writes": 0, "meta": 0, "snaps": False}
    started = time.time()
    cycle = 0
    engine = None
    last_inflight = [[], 0]

    def report(what):
        text = engine.output() if engine else ""
        tail = "\n".join(text.splitlines()[-40:])
        return (f"crash test failed: IOE_CRASH_SEED={SEED} cycle {cycle} of {CYCLES}\n"
                f"{what}\nin flight at the last kill: metadata {last_inflight[0]}, "
                f"{last_inflight[1]} writes\n"
                f"recent acknowledged metadata changes:\n  " + "\n  ".join(m.history) +
                f"\nlog of cycle {cycle} ({engine.log_path if engine else '-'}):\n{tail}")

    try:
        for cycle in range(CYCLES + 1):
            d = tmp_path / f"cycle{cycle}"
            d.mkdir()
            old = tmp_path / f"cycle{cycle - KEEP_LOGS}"
            if old.exists():
                shutil.rmtree(old, ignore_errors=True)
            engine = Engine(tmpdir=str(d)).start()
            cl = Client(engine)
            try:
                scheme = rnd.choice(("aio", "uring"))
                errs = []
                if cycle == 0:
                    p = pool_call(cl, True, scheme, img, None)
                    pool_uuid = p.uuid
                    assert p.cluster_size == CLUSTER and p.used == 0
                    for name, thin in FIXED:
                        u = str(uuidlib.uuid4())
                        r = cl.replica.CreateReplica(replica_pb2.CreateReplicaRequest(
                            name=name, uuid=u, pooluuid=POOL, size=FIXED_START, thin=thin),
                            timeout=DEADLINE)
                        m.replicas[u] = dict(name=name, uuid=u, size=r.size, thin=thin,
                                             fixed=True, image=Image(r.size))
                        # A thick replica on a new file reads zeroes. (A thin one's clusters
                        # are allocated later, and may be reused ones: unknown until written.)
                        if not thin:
                            m.replicas[u]["image"].known[:] = b"\1" * (r.size // 512)
                else:
                    try:
                        p = pool_call(cl, rnd.random() < 0.5, scheme, img, pool_uuid)
                    except grpc.RpcError as e:
                        raise CrashFailure(report(f"the pool does not import over {scheme}: "
                                                  f"{e.code()} {e.details()}"))
                    if p.uuid != pool_uuid or p.name != POOL or p.cluster_size != CLUSTER:
                        errs.append(f"imported pool differs: {p}")
                    last_inflight[:] = [[{k: v for k, v in c.items() if k != "image"}
                                         for c in m.inflight_meta], len(m.inflight_writes)]
                    e1, lvols = check_lvols(cl, m, stats["snaps"])
                    e2, p = check_accounting(cl, lvols)
                    e3 = check_data(cl.rpc, m)
                    e4 = check_snapshot_data(cl.rpc, m) if stats["snaps"] else []
                    errs += e1 + e2 + e3 + e4
                    if not errs:
                        # The clean path: export (clean unload) and import again.
                        cl.pool.ExportPool(pool_pb2.ExportPoolRequest(name=POOL),
                                           timeout=DEADLINE)
                        try:
                            q = pool_call(cl, False, rnd.choice(("aio", "uring")), img,
                                          pool_uuid)
                        except grpc.RpcError as e:
                            raise CrashFailure(report(f"re-import after export fails: "
                                                      f"{e.code()} {e.details()}"))
                        again = cl.lvols()
                        key = lambda r: (r.uuid, r.name, r.size, r.thin,  # noqa: E731
                                         r.usage.num_allocated_clusters)
                        if sorted(map(key, again)) != sorted(map(key, lvols)) or \
                                (q.used, q.committed) != (p.used, p.committed):
                            errs.append(f"export + import changed the pool: {q} "
                                        f"{sorted(map(key, again))} vs {sorted(map(key, lvols))}")
                errs += check_log(engine.output())
                if errs:
                    raise CrashFailure(report("\n".join(errs)))
                if cycle == CYCLES:
                    break
                stats["snaps"] = snapshots_enabled(cl)
            finally:
                cl.close()
            load = Load(engine, m, rnd, cycle, stats["snaps"])
            errs = load.run(rnd.uniform(0.2, 1.5))
            stats["writes"] += load.counts["writes"]
            stats["meta"] += load.counts["meta"]
            engine.log.close()
            engine.assert_clean()
            errs += check_log(engine.output())
            if errs:
                raise CrashFailure(report("during the load: " + "\n".join(errs)))
        rc = engine.stop()
        engine.assert_clean()
        assert rc == 0, report(f"io-engine exited {rc} at SIGTERM")
        engine = None
    except CrashFailure:
        raise
    except Exception as e:  # an unexpected answer or error: still say which seed and cycle
        raise CrashFailure(report(f"{type(e).__name__}: {e}")) from e
    finally:
        if engine and engine.proc and engine.proc.poll() is None:
            engine.kill()
    print(f"\ncrash test: seed {SEED}, {CYCLES} cycles in {time.time() - started:.1f} s, "
          f"{stats['writes']} acknowledged writes, {stats['meta']} metadata changes, "
          f"snapshots {'on' if stats['snaps'] else 'off (SnapshotRpc unimplemented)'}; "
          f"in flight at the kills: {m.outcomes}")
