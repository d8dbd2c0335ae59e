"""ioe-perf, the load generator (bench/perf.c, docs/benchmarks.md): against the daemon's
NVMe/TCP target through an SPDK-style transport id (-r), every workload, digests, data
verification (-V), a local device URI (-u), and its argument errors. Short runs: this
checks the tool, the benchmark itself is run by hand (bench/nvmf-bench.sh)."""
import json
import subprocess

import bdev_pb2
import bdev_pb2_grpc
import common_pb2
import grpc
import pytest

from conftest import PERF


def perf(*args, timeout=60):
    r = subprocess.run([PERF] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def trid(engine):
    ch = grpc.insecure_channel(engine.endpoint)
    v1 = bdev_pb2_grpc.BdevRpcStub(ch)
    v1.Create(bdev_pb2.CreateBdevRequest(uri="malloc:///m0?size_mb=32"))
    v1.Share(bdev_pb2.BdevShareRequest(name="m0", protocol=common_pb2.NVMF))
    yield (f"trtype:tcp adrfam:ipv4 traddr:127.0.0.1 trsvcid:{engine.nvmf_port} "
           "subnqn:nqn.2019-05.io.openebs:m0")
    ch.close()


@pytest.mark.parametrize("args,workload", [
    (["-w", "randread", "-q", "8", "-o", "4096"], "randread"),
    (["-w", "randwrite", "-q", "1", "-o", "4096"], "randwrite"),
    (["-w", "read", "-q", "4", "-o", "131072"], "read"),
    (["-w", "write", "-q", "4", "-o", "65536", "-H", "-D"], "write"),
    (["-w", "rw", "-M", "70", "-q", "4", "-o", "8192"], "rw"),
    (["-w", "randrw", "-M", "30", "-q", "4", "-o", "4096"], "randrw"),
    (["-V", "-q", "8", "-o", "16384"], "verify"),
])
def test_workloads_against_the_target(trid, args, workload):
    rc, out, err = perf("-r", trid, "-t", "1", "-c", "1", *args)
    assert rc == 0, err
    r = json.loads(out)
    assert r["workload"] == workload and r["errors"] == 0 and r["verify_errors"] == 0
    assert r["iops"] > 100 and r["mib_s"] > 0
    assert 0 < r["p50_us"] <= r["p99_us"] <= r["p999_us"] and r["mean_us"] > 0
    assert "IOPS" in err and "p99.9" in err
    if "-H" in args:
        assert "hdgst=1&ddgst=1" in r["uri"]


def test_local_device_uri():
    rc, out, err = perf("-u", "malloc:///p0?size_mb=16", "-t", "1", "-V", "-q", "4")
    assert rc == 0, err
    assert json.loads(out)["verify_errors"] == 0


@pytest.mark.parametrize("args", [
    [],
    ["-r", "trtype:rdma traddr:127.0.0.1 subnqn:x"],
    ["-r", "traddr:127.0.0.1"],
    ["-r", "nonsense"],
    ["-u", "malloc:///p1?size_mb=1", "-M", "101"],
    ["-u", "malloc:///p1?size_mb=1", "-q", "0"],
])
def test_bad_arguments(args):
    rc, _, err = perf(*args)
    assert rc == 2, err


def test_unreachable_target():
    rc, _, err = perf("-r", "trtype:tcp traddr:127.0.0.1 trsvcid:1 subnqn:nqn.x:y", "-t", "1")
    assert rc == 1 and "cannot create" in err
