"""JSON-RPC 2.0 on the unix socket (SPDK-compatible framing) and its gRPC bridge
JsonRpcCall (v1 and v0) with the error mapping of behaviour §9."""
import json
import socket

import grpc
import pytest

from jsonrpc_client import JsonRpcClient

import json_pb2
import json_pb2_grpc
import mayastor_pb2
import mayastor_pb2_grpc


Conn = JsonRpcClient


def test_methods_and_version(engine):
    c = Conn(engine.sock)
    r = c.call("rpc_get_methods")
    assert r["jsonrpc"] == "2.0" and r["id"] == 1
    assert {"rpc_get_methods", "spdk_get_version"} <= set(r["result"])
    v = c.call("spdk_get_version", id="abc")
    assert v["id"] == "abc" and v["result"]["version"].startswith("io-engine")
    assert set(v["result"]["fields"]) == {"major", "minor", "patch", "suffix"}
    assert c.call("rpc_get_methods", {"current": True})["result"]


def test_errors(engine):
    c = Conn(engine.sock)
    assert c.call("no_such_method")["error"]["code"] == -32601
    assert c.call("rpc_get_methods", {"current": "yes"})["error"]["code"] == -32602
    assert c.call("spdk_get_version", {"x": 1})["error"]["code"] == -32602
    c.send({"jsonrpc": "2.0", "id": 3})  # no method
    assert c.recv()["error"]["code"] == -32600
    c.send({"jsonrpc": "1.0", "method": "rpc_get_methods", "id": 4})
    assert c.recv()["error"]["code"] == -32600
    c.send({"jsonrpc": "2.0", "method": "rpc_get_methods", "id": 5, "params": 7})
    assert c.recv()["error"]["code"] == -32602
    c.send(b"[1,2]")  # batches are not supported: invalid request
    assert c.recv()["error"]["code"] == -32600
    c.send(b"{this is not json}")
    r = c.recv()
    assert r["error"]["code"] == -32700
    with pytest.raises((EOFError, ConnectionResetError)):
        c.recv()  # the stream cannot be resynchronised: the daemon hangs up
    # ...and keeps serving others.
    assert Conn(engine.sock).call("rpc_get_methods")["result"]


def test_framing(engine):
    c = Conn(engine.sock)
    # Two requests in one write, then one split over three writes.
    c.send(b'{"jsonrpc":"2.0","method":"rpc_get_methods","id":1}'
           b'{"jsonrpc":"2.0","method":"spdk_get_version","id":2}')
    assert {c.recv()["id"], c.recv()["id"]} == {1, 2}
    msg = b'{"jsonrpc":"2.0","method":"spdk_get_version","id":3}'
    for part in (msg[:10], msg[10:30], msg[30:]):
        c.send(part)
    assert c.recv()["id"] == 3
    # A notification (no id) gets no answer; the next request does.
    c.send({"jsonrpc": "2.0", "method": "rpc_get_methods"})
    assert c.call("spdk_get_version", id=9)["id"] == 9


def test_many_connections(engine):
    conns = [Conn(engine.sock) for _ in range(50)]
    for i, c in enumerate(conns):
        assert c.call("spdk_get_version", id=i)["id"] == i
    for c in conns[::2]:
        c.s.close()
    assert conns[1].call("rpc_get_methods")["result"]


@pytest.mark.parametrize("version", ["v1", "v0"])
def test_grpc_bridge(channel, version):
    if version == "v1":
        stub, Req = json_pb2_grpc.JsonRpcStub(channel), json_pb2.JsonRpcRequest
    else:
        stub, Req = mayastor_pb2_grpc.JsonRpcStub(channel), mayastor_pb2.JsonRpcRequest
    r = stub.JsonRpcCall(Req(method="spdk_get_version"))
    assert json.loads(r.result)["version"].startswith("io-engine")
    assert "\n" in r.result  # pretty-printed, as upstream returns it
    r = stub.JsonRpcCall(Req(method="rpc_get_methods", params='{"current": true}'))
    assert "spdk_get_version" in json.loads(r.result)

    cases = [
        (Req(method="no_such_method"), grpc.StatusCode.INTERNAL, "-32601"),
        (Req(method="rpc_get_methods", params='{"current": 1}'), grpc.StatusCode.INVALID_ARGUMENT,
         "-32602"),
        (Req(method="rpc_get_methods", params="{not json"), grpc.StatusCode.INVALID_ARGUMENT,
         "not valid JSON"),
        (Req(method="rpc_get_methods", params="42"), grpc.StatusCode.INVALID_ARGUMENT, "object"),
        (Req(method=""), grpc.StatusCode.INVALID_ARGUMENT, "method"),
    ]
    for req, code, needle in cases:
        with pytest.raises(grpc.RpcError) as e:
            stub.JsonRpcCall(req)
        assert e.value.code() == code, req
        assert needle in e.value.details()
