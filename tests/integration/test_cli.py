"""io-engine-client against the real daemon: tables by default, -o json, errors and
exit codes (0 ok, 1 daemon error, 2 unreachable, 3 usage)."""
import json
import os
import subprocess

from conftest import CLIENT, free_port


def cli(*args, timeout=30):
    r = subprocess.run([CLIENT] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_host_info(engine_factory):
    e = engine_factory("-N", "cli-node")
    rc, out, err = cli("-b", e.endpoint, "host", "info")
    assert rc == 0, err
    assert "cli-node" in out and "nqn.2019-05.io.openebs:node-name:cli-node" in out
    rc, out, _ = cli("-b", e.endpoint, "-o", "json", "host", "info")
    info = json.loads(out)
    assert info["registration_info"]["id"] == "cli-node"
    assert info["registration_info"]["api_version"] == ["V0", "V1"]
    assert info["registration_info"]["grpc_endpoint"] == e.endpoint


def test_block_devices_and_usage(engine):
    rc, out, _ = cli("-b", engine.endpoint, "host", "block-devices", "--all")
    assert rc == 0 and out.splitlines()[0].split()[0] == "DEVNAME"
    rc, out, _ = cli("-b", engine.endpoint, "-o", "json", "host", "block-devices", "--all")
    devs = json.loads(out)["devices"]
    assert any(d["devname"].startswith("/dev/") for d in devs)
    rc, out, _ = cli("-b", engine.endpoint, "-o", "json", "host", "resource-usage")
    assert rc == 0 and json.loads(out)["usage"]["soft_faults"] > 0
    rc, out, _ = cli("-b", engine.endpoint, "host", "nvme-controllers")
    assert rc == 0


def test_jsonrpc(engine):
    rc, out, _ = cli("-b", engine.endpoint, "jsonrpc", "spdk_get_version")
    assert rc == 0 and json.loads(out)["version"].startswith("io-engine")
    rc, out, _ = cli("-b", engine.endpoint, "jsonrpc", "rpc_get_methods", '{"current": true}')
    assert rc == 0 and "rpc_get_methods" in json.loads(out)
    rc, _, err = cli("-b", engine.endpoint, "jsonrpc", "no_such_method")
    assert rc == 1 and "INTERNAL" in err and "-32601" in err
    rc, _, err = cli("-b", engine.endpoint, "jsonrpc", "rpc_get_methods", "{bad")
    assert rc == 3


def test_unreachable_and_usage_errors():
    port = free_port()  # nobody listens here
    rc, _, err = cli("-b", f"127.0.0.1:{port}", "-t", "2s", "host", "info")
    assert rc == 2 and "cannot reach io-engine" in err
    rc, _, err = cli("no-such-command")
    assert rc == 3
    rc, _, err = cli("host", "info", "--bogus")
    assert rc == 3
    rc, out, _ = cli("--help")
    assert rc == 0 and "host" in out and "jsonrpc" in out


def test_sharing(engine, tmp_path):
    b = engine.endpoint
    host = "nqn.2014-08.org.nvmexpress:uuid:4e564d65-0000-4000-8000-0000000fea51"
    assert cli("-b", b, "bdev", "create", "malloc:///cm?size_mb=4")[0] == 0
    rc, out, err = cli("-b", b, "bdev", "share", "cm", "--hosts", host)
    assert rc == 0, err
    assert f"nvmf://127.0.0.1:{engine.nvmf_port}/nqn.2019-05.io.openebs:cm?uuid=" in out
    rc, out, _ = cli("-b", b, "nvmf", "subsystems")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NQN", "TYPE", "SERIAL", "DEVICE"]
    row = next(x for x in lines if x.startswith("nqn.2019-05.io.openebs:cm "))
    assert " NVMe " in row and " DCS" in row and host in row
    assert any(x.startswith("nqn.2014-08.org.nvmexpress.discovery ") for x in lines)
    rc, out, _ = cli("-b", b, "-o", "json", "nvmf", "subsystems")
    subs = {s["nqn"]: s for s in json.loads(out)}
    assert subs["nqn.2019-05.io.openebs:cm"]["hosts"] == [{"nqn": host}]
    assert cli("-b", b, "bdev", "unshare", "cm")[0] == 0
    rc, out, _ = cli("-b", b, "-o", "json", "nvmf", "subsystems")
    assert "nqn.2019-05.io.openebs:cm" not in {s["nqn"] for s in json.loads(out)}
    # replicas
    img = tmp_path / "p.img"
    img.write_bytes(b"")
    os.truncate(img, 64 << 20)
    assert cli("-b", b, "pool", "create", "cp", f"aio://{img}")[0] == 0
    rc, out, err = cli("-b", b, "-o", "json", "replica", "create", "cr", "--pool", "cp",
                       "--size", "8MiB", "--share", "nvmf", "--hosts", host)
    assert rc == 0, err
    r = json.loads(out)
    assert r["share"] == "NVMF" and r["allowed_hosts"] == [host]
    rc, out, _ = cli("-b", b, "replica", "unshare", r["uuid"])
    assert rc == 0 and "bdev:///cr?uuid=" in out
    rc, out, _ = cli("-b", b, "replica", "share", r["uuid"])
    assert rc == 0 and "nvmf://" in out and " NVMF " in out
    rc, _, err = cli("-b", b, "replica", "share", "00000000-0000-0000-0000-000000000000")
    assert rc == 1 and "NOT_FOUND" in err
