"""A JSON-RPC 2.0 client for the engine's unix socket (SPDK framing: a stream of JSON
values), shared by the integration tests."""
import base64
import json
import socket


class JsonRpcError(AssertionError):
    """An error answer to a call that had to succeed (an AssertionError, as it used to be)."""

    def __init__(self, error):
        super().__init__(error)
        self.code = error.get("code")
        self.message = error.get("message", "")


class JsonRpcClient:
    def __init__(self, path, timeout=20):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.id = 0

    def close(self):
        self.s.close()

    def send(self, data):
        """Sends raw bytes, or a JSON value."""
        self.s.sendall(data if isinstance(data, bytes) else json.dumps(data).encode())

    def recv(self):
        """The next complete JSON value from the stream."""
        dec = json.JSONDecoder()
        while True:
            text = self.buf.decode().lstrip()
            if text:
                try:
                    obj, end = dec.raw_decode(text)
                    self.buf = text[end:].encode()
                    return obj
                except ValueError:
                    pass
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def call(self, method, params=None, id=None):
        """Sends one request and returns the whole response object."""
        if id is None:
            self.id += 1
            id = self.id
        req = {"jsonrpc": "2.0", "method": method, "id": id}
        if params is not None:
            req["params"] = params
        self.send(req)
        resp = self.recv()
        assert resp.get("id") == id, resp
        return resp

    raw = call

    def __call__(self, method, params=None):
        """The result of a call that must succeed."""
        r = self.call(method, params)
        if "error" in r:
            raise JsonRpcError(r["error"])
        return r["result"]

    def error(self, method, params=None):
        """(code, message) of a call that must fail."""
        r = self.call(method, params)
        assert "error" in r, r
        return r["error"]["code"], r["error"]["message"]

    def write(self, name, offset, data):
        """Diagnostic write through the device layer (ioe_bdev_write)."""
        return self("ioe_bdev_write", {"name": name, "offset": offset,
                                       "data": base64.b64encode(data).decode()})

    def read(self, name, offset, length):
        """Diagnostic read through the device layer (ioe_bdev_read)."""
        r = self("ioe_bdev_read", {"name": name, "offset": offset, "length": length})
        return base64.b64decode(r["data"])
