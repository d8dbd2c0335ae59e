"""HostRpc and the v0 host methods against the real machine: info and registration
data, resource usage, and block devices — loop devices this test creates must appear
with the right size, filesystem and mount data, and `all` must filter as upstream."""
import os
import subprocess
import tempfile

import grpc
import pytest
from google.protobuf import empty_pb2

import host_pb2
import host_pb2_grpc
import mayastor_pb2
import mayastor_pb2_grpc


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def test_mayastor_info(engine_factory):
    e = engine_factory("-N", "node-7")
    stub = host_pb2_grpc.HostRpcStub(grpc.insecure_channel(e.endpoint))
    info = stub.GetMayastorInfo(empty_pb2.Empty())
    reg = info.registration_info
    assert info.version
    assert reg.version == info.version
    assert reg.id == "node-7"
    assert reg.grpc_endpoint == e.endpoint
    assert len(reg.instance_uuid.value) == 36
    assert reg.hostnqn.value == "nqn.2019-05.io.openebs:node-name:node-7"
    assert list(reg.api_version) == [0, 1]
    assert reg.HasField("features") and reg.HasField("bugfixes")
    assert reg.bugfixes.nexusRebuildReplicaAncestry
    assert not info.previous_features.asymmetricNamespaceAccess
    # A new process gets a new instance uuid; the same process keeps it.
    assert stub.GetMayastorInfo(empty_pb2.Empty()).registration_info.instance_uuid.value == \
        reg.instance_uuid.value


def test_mayastor_info_env(engine_factory):
    e = engine_factory(env={"HOSTNQN": "nqn.2014-08.org.example:host-a", "HOSTNAME": "from-env",
                            "NEXUS_NVMF_ANA_ENABLE": "1"})
    info = host_pb2_grpc.HostRpcStub(grpc.insecure_channel(e.endpoint)).GetMayastorInfo(
        empty_pb2.Empty())
    assert info.registration_info.hostnqn.value == "nqn.2014-08.org.example:host-a"
    assert info.registration_info.id == "from-env"
    assert info.previous_features.asymmetricNamespaceAccess
    assert info.registration_info.features.asymmetricNamespaceAccess
    v0 = mayastor_pb2_grpc.MayastorStub(grpc.insecure_channel(e.endpoint)).GetMayastorInfo(
        mayastor_pb2.Null())
    assert v0.version == info.version and v0.supportedFeatures.asymmetricNamespaceAccess


def test_ipv6_endpoint_is_bracketed(engine_factory):
    e = engine_factory(host="::1")
    ch = grpc.insecure_channel(f"[::1]:{e.port}")
    info = host_pb2_grpc.HostRpcStub(ch).GetMayastorInfo(empty_pb2.Empty())
    assert info.registration_info.grpc_endpoint == f"[::1]:{e.port}"


def test_resource_usage(channel):
    u1 = host_pb2_grpc.HostRpcStub(channel).GetMayastorResourceUsage(empty_pb2.Empty()).usage
    u0 = mayastor_pb2_grpc.MayastorStub(channel).GetResourceUsage(mayastor_pb2.Null()).usage
    assert u1.soft_faults > 0 and u1.vol_csw > 0
    # Counters only grow.
    assert u0.soft_faults >= u1.soft_faults and u0.vol_csw >= u1.vol_csw


def test_nvme_controllers_empty(channel):
    stub = host_pb2_grpc.HostRpcStub(channel)
    assert list(stub.ListNvmeControllers(empty_pb2.Empty()).controllers) == []
    with pytest.raises(grpc.RpcError) as e:
        stub.StatNvmeController(host_pb2.StatNvmeControllerRequest(name="nvme0"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    v0 = mayastor_pb2_grpc.MayastorStub(channel)
    assert list(v0.ListNvmeControllers(mayastor_pb2.Null()).controllers) == []
    assert list(v0.StatNvmeControllers(mayastor_pb2.Null()).controllers) == []


@pytest.fixture
def loops():
    """Three loop devices: blank (available), ext4 with a label, ext4 mounted."""
    if not os.path.exists("/dev/loop-control") or os.geteuid() != 0:
        pytest.skip("needs root and loop devices")
    tmp = tempfile.mkdtemp(prefix="ioe-loop-")
    devs, mnt = [], os.path.join(tmp, "mnt point")
    try:
        for i, size in enumerate((64, 48, 32)):
            img = os.path.join(tmp, f"disk{i}.img")
            with open(img, "wb") as f:
                f.truncate(size << 20)
            devs.append(run("losetup", "-f", "--show", img))
        run("mkfs.ext4", "-q", "-L", "ioe-label", devs[1])
        run("mkfs.ext4", "-q", devs[2])
        os.mkdir(mnt)
        run("mount", devs[2], mnt)
        yield devs, mnt
    finally:
        subprocess.run(["umount", mnt], capture_output=True)
        for d in devs:
            subprocess.run(["losetup", "-d", d], capture_output=True)


def by_name(devices):
    return {d.devname: d for d in devices}


def test_block_devices_v1(channel, loops):
    devs, mnt = loops
    stub = host_pb2_grpc.HostRpcStub(channel)
    everything = by_name(stub.ListBlockDevices(host_pb2.ListBlockDevicesRequest(all=True)).devices)
    blank, labelled, mounted = (everything[d] for d in devs)

    assert blank.size == 64 * 2048 and labelled.size == 48 * 2048 and mounted.size == 32 * 2048
    for d, dev in zip((blank, labelled, mounted), devs):
        assert d.devtype == "disk" and d.devmajor == 7
        assert d.devminor == os.minor(os.stat(dev).st_rdev)
        assert d.devpath.endswith("/" + os.path.basename(dev))
    assert blank.available and not blank.HasField("filesystem")
    assert labelled.filesystem.fstype == "ext4"
    assert labelled.filesystem.label == "ioe-label"
    assert labelled.filesystem.uuid == run("blkid", "-s", "UUID", "-o", "value", devs[1])
    assert not labelled.available
    assert mounted.filesystem.fstype == "ext4"
    assert list(mounted.filesystem.mountpoints) == [mnt]
    assert not mounted.available

    available = by_name(stub.ListBlockDevices(host_pb2.ListBlockDevicesRequest(all=False)).devices)
    assert devs[0] in available
    assert devs[1] not in available and devs[2] not in available
    assert all(d.available for d in available.values())


def test_block_devices_v0(channel, loops):
    devs, mnt = loops
    stub = mayastor_pb2_grpc.MayastorStub(channel)
    everything = by_name(stub.ListBlockDevices(mayastor_pb2.ListBlockDevicesRequest(all=True)).devices)
    assert everything[devs[0]].available and everything[devs[0]].size == 64 * 2048
    assert everything[devs[2]].filesystem.mountpoint == mnt
    assert everything[devs[1]].filesystem.label == "ioe-label"
    available = by_name(stub.ListBlockDevices(mayastor_pb2.ListBlockDevicesRequest()).devices)
    assert devs[0] in available and devs[2] not in available
