"""What the pool and replica tests share: the stubs of the services they drive (PoolRpc,
ReplicaRpc, BdevRpc, v0 Mayastor) and a JSON-RPC client on one engine, the error of a
gRPC call that must fail, and sparse disk images. Like jsonrpc_client.py it is imported
by the test modules, after conftest.py has put the generated protobuf modules on the path."""
import grpc
import pytest

import bdev_pb2_grpc
import mayastor_pb2_grpc
import pool_pb2_grpc
import replica_pb2_grpc
from jsonrpc_client import JsonRpcClient

MiB = 1 << 20


class LvsStubs:
    """The channels to one engine; each test module adds its own request helpers."""

    def __init__(self, engine):
        self.ch = grpc.insecure_channel(engine.endpoint)
        self.pool = pool_pb2_grpc.PoolRpcStub(self.ch)
        self.replica = replica_pb2_grpc.ReplicaRpcStub(self.ch)
        self.bdev = bdev_pb2_grpc.BdevRpcStub(self.ch)
        self.v0 = mayastor_pb2_grpc.MayastorStub(self.ch)
        self.rpc = JsonRpcClient(engine.sock)

    def close(self):
        self.rpc.close()
        self.ch.close()


def grpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    return e.value


def make_image(path, size=256 * MiB):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)
