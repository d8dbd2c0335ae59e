"""The gRPC surface: every service and method of the API map is registered under its
wire name and its module-style alias; methods not built yet answer UNIMPLEMENTED with a
message naming what is missing; unknown methods, malformed requests, deadlines,
concurrent clients and the API-version switch behave as a gRPC user expects."""
import threading
import time

import grpc
import pytest
from google.protobuf import empty_pb2

import host_pb2
import host_pb2_grpc
import mayastor_pb2
import pool_pb2
import pool_pb2_grpc
from api_map import BUILT, STREAMING, SERVICES, all_methods


def raw_call(ch, path, payload=b"", timeout=5, streaming=False):
    """Calls path with raw request bytes; returns (code, details, reply bytes)."""
    try:
        if streaming:
            msgs = list(ch.unary_stream(path)(payload, timeout=timeout))
            return grpc.StatusCode.OK, "", msgs
        return grpc.StatusCode.OK, "", ch.unary_unary(path)(payload, timeout=timeout)
    except grpc.RpcError as e:
        return e.code(), e.details(), None


@pytest.mark.parametrize("svc,alias,version,method", list(all_methods()),
                         ids=[f"{s}/{m}" for s, _, _, m in all_methods()])
def test_every_method_is_registered(channel, svc, alias, version, method):
    streaming = (svc, method) in STREAMING
    for name in (svc, alias):
        code, details, _ = raw_call(channel, f"/{name}/{method}", streaming=streaming)
        if method in BUILT.get(svc, ()):
            assert code != grpc.StatusCode.UNIMPLEMENTED, (name, method, details)
        else:
            assert code == grpc.StatusCode.UNIMPLEMENTED, (name, method, code, details)
            # Registered-but-unbuilt differs from unknown: the message names the gap.
            assert "not implemented yet" in details and svc in details, details


def test_unknown_methods_and_services(channel):
    for path in ("/mayastor.v1.HostRpc/NoSuchMethod", "/mayastor.v1.NoSuchRpc/GetMayastorInfo",
                 "/v1.host.HostRpc/Nope", "/grpc.health.v1.Health/Check", "/x"):
        code, details, _ = raw_call(channel, path)
        assert code == grpc.StatusCode.UNIMPLEMENTED, path
        assert "unknown" in details


def test_aliases_reach_the_same_handlers(channel):
    for path in ("/mayastor.v1.HostRpc/GetMayastorInfo", "/v1.host.HostRpc/GetMayastorInfo"):
        code, _, raw = raw_call(channel, path)
        assert code == grpc.StatusCode.OK
        info = host_pb2.MayastorInfoResponse.FromString(raw)
        assert info.version and info.registration_info.id
    for path in ("/mayastor.Mayastor/GetMayastorInfo", "/v0.mayastor.Mayastor/GetMayastorInfo"):
        code, _, raw = raw_call(channel, path)
        assert code == grpc.StatusCode.OK
        assert mayastor_pb2.MayastorInfoRequest.FromString(raw).version


def test_malformed_request_is_invalid_argument(channel):
    # A length-delimited field 1 claiming 100 bytes with 1 present: not a valid message.
    code, details, _ = raw_call(channel, "/mayastor.v1.HostRpc/ListBlockDevices", b"\x0a\x64x")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed" in details
    # The daemon keeps serving afterwards.
    assert raw_call(channel, "/mayastor.v1.HostRpc/GetMayastorInfo")[0] == grpc.StatusCode.OK


def test_python_example_from_the_reference_page(engine):
    # grpc.insecure_channel + PoolRpcStub + ListPools, exactly as documented upstream.
    channel = grpc.insecure_channel(engine.endpoint)
    client = pool_pb2_grpc.PoolRpcStub(channel)
    # A fresh daemon has no pools: an empty list, not an error.
    assert list(client.ListPools(pool_pb2.ListPoolOptions()).pools) == []
    host = host_pb2_grpc.HostRpcStub(channel)
    assert host.GetMayastorInfo(empty_pb2.Empty()).version
    channel.close()


def test_many_concurrent_clients(engine):
    errors = []
    counts = []

    def worker():
        ch = grpc.insecure_channel(engine.endpoint)
        stub = host_pb2_grpc.HostRpcStub(ch)
        n = 0
        try:
            for _ in range(25):
                info = stub.GetMayastorInfo(empty_pb2.Empty(), timeout=10)
                assert info.registration_info.grpc_endpoint == engine.endpoint
                stub.GetMayastorResourceUsage(empty_pb2.Empty(), timeout=10)
                n += 1
        except Exception as ex:  # collected and asserted below
            errors.append(ex)
        finally:
            counts.append(n)
            ch.close()

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert sum(counts) == 32 * 25


def test_deadline_exceeded_then_still_serving(channel):
    stub = host_pb2_grpc.HostRpcStub(channel)
    # ListBlockDevices(all) probes every device: longer than a 1 µs deadline.
    with pytest.raises(grpc.RpcError) as e:
        stub.ListBlockDevices(host_pb2.ListBlockDevicesRequest(all=True), timeout=0.000001)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert stub.GetMayastorInfo(empty_pb2.Empty(), timeout=5).version


def test_cancelled_calls_do_not_disturb_the_daemon(channel):
    stub = host_pb2_grpc.HostRpcStub(channel)
    futures = [stub.ListBlockDevices.future(host_pb2.ListBlockDevicesRequest(all=True))
               for _ in range(20)]
    for f in futures[::2]:
        f.cancel()
    for f in futures[1::2]:
        assert f.result(timeout=10) is not None
    assert stub.GetMayastorInfo(empty_pb2.Empty(), timeout=5).version


@pytest.mark.parametrize("flag,env,served,hidden", [
    (["--api-versions", "V1"], None, "mayastor.v1.HostRpc", "mayastor.Mayastor"),
    (["--api-versions", "v0"], None, "mayastor.Mayastor", "mayastor.v1.HostRpc"),
    (["--api-versions", "V0,v1"], None, "mayastor.Mayastor", None),
    ([], {"API_VERSIONS": "v1"}, "mayastor.v1.HostRpc", "mayastor.Mayastor"),
    (["--api-versions", "V0"], {"API_VERSIONS": "v1"}, "mayastor.Mayastor", "mayastor.v1.HostRpc"),
])
def test_api_versions(engine_factory, flag, env, served, hidden):
    e = engine_factory(*flag, env=env)
    ch = grpc.insecure_channel(e.endpoint)
    assert raw_call(ch, f"/{served}/GetMayastorInfo")[0] == grpc.StatusCode.OK
    alias = SERVICES[served][0]
    assert raw_call(ch, f"/{alias}/GetMayastorInfo")[0] == grpc.StatusCode.OK
    if hidden:
        code, details, _ = raw_call(ch, f"/{hidden}/GetMayastorInfo")
        assert code == grpc.StatusCode.UNIMPLEMENTED
        code, _, _ = raw_call(ch, f"/{SERVICES[hidden][0]}/GetMayastorInfo")
        assert code == grpc.StatusCode.UNIMPLEMENTED
    info = host_pb2.MayastorInfoResponse
    if served == "mayastor.v1.HostRpc" or hidden is None:
        raw = raw_call(ch, "/mayastor.v1.HostRpc/GetMayastorInfo")[2]
        versions = set(host_pb2.registration__pb2.APIVersion.Name(v)
                       for v in info.FromString(raw).registration_info.api_version)
        expect = {"V0", "V1"} if hidden is None else {"V1"}
        assert versions == expect
    ch.close()
