"""The server-streaming path of the gRPC server (TestRpc.WipeReplica uses it), exercised
over the wire with the daemon's server code and a test service (helpers/stream_server.c)."""
import signal
import subprocess
import threading

import grpc
import pytest

import test_pb2
import test_pb2_grpc
from conftest import STREAM_SERVER, free_port


@pytest.fixture
def stream_server():
    port = free_port()
    p = subprocess.Popen([STREAM_SERVER, str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield test_pb2_grpc.TestRpcStub(ch)
    ch.close()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=15) == 0
    err = p.stderr.read()
    assert "Sanitizer" not in err and "runtime error" not in err, err


def wipe(stub, uuid, n, **kw):
    req = test_pb2.WipeReplicaRequest(uuid=uuid, wipe_options=test_pb2.StreamWipeOptions(chunk_size=n))
    return stub.WipeReplica(req, **kw)


def test_stream_in_order(stream_server):
    msgs = list(wipe(stream_server, "r1", 50))
    assert [m.wiped_chunks for m in msgs] == list(range(1, 51))
    assert all(m.uuid == "r1" and m.total_chunks == 50 for m in msgs)


def test_stream_burst_queue(stream_server):
    msgs = list(wipe(stream_server, "burst", 2000))
    assert [m.wiped_chunks for m in msgs] == list(range(1, 2001))


def test_stream_empty(stream_server):
    assert list(wipe(stream_server, "none", 0)) == []


def test_stream_error_after_messages(stream_server):
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for m in wipe(stream_server, "fail-after-2", 10):
            got.append(m.wiped_chunks)
    assert got == [1, 2]
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_stream_cancel_and_deadline(stream_server):
    it = wipe(stream_server, "slow", 100000)
    assert next(it).wiped_chunks == 1
    it.cancel()
    with pytest.raises(grpc.RpcError) as e:
        list(wipe(stream_server, "slow", 100000, timeout=0.2))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server is still fine, with several concurrent streams.
    results = []
    threads = [threading.Thread(target=lambda: results.append(len(list(wipe(stream_server, "c", 20)))))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [20] * 8
