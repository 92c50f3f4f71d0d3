"""A gRPC client in a third language for grpclb xds's tests: Python on
C-core (Debian's python3-grpcio), following the control plane named by the
bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG. The same line protocol as
xds-client.js: commands on stdin, one JSON line of answer each.

  chan NAME TARGET      open a channel (xds:///svc)   -> {"ok": true}
  call NAME N [KEY]     N Echo calls in turn, with header x-user: KEY
                        when given                   -> {"by": {...}, "failed": k, "error": "..."}
  quit

No generated code: requests are empty messages and the response's field 1
(the backend's name) is read from the wire bytes.
"""
import json
import sys

import grpc

METHOD = "/grpclb.testbed.v1.Echo/Echo"


def backend_of(resp: bytes) -> str:
    """Field 1 (string) of an EchoResponse in protobuf wire format."""
    i = 0
    while i < len(resp):
        tag = resp[i]
        i += 1
        if tag & 7 == 2:  # length-delimited
            n, shift = 0, 0
            while True:
                b = resp[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            if tag >> 3 == 1:
                return resp[i:i + n].decode()
            i += n
        else:
            raise ValueError("unexpected wire type in EchoResponse")
    return ""


def main():
    channels = {}
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == "quit":
            break
        if cmd == "chan":
            ch = grpc.insecure_channel(parts[2])
            channels[parts[1]] = ch.unary_unary(METHOD)
            out = {"ok": True}
        elif cmd == "call":
            call = channels[parts[1]]
            md = [("x-user", parts[3])] if len(parts) > 3 else None
            out = {"by": {}, "failed": 0}
            for _ in range(int(parts[2])):
                try:
                    b = backend_of(call(b"", timeout=2, metadata=md))
                    out["by"][b] = out["by"].get(b, 0) + 1
                except grpc.RpcError as e:
                    out["failed"] += 1
                    out.setdefault("error", f"{e.code()}: {e.details()}")
        else:
            out = {"error": "unknown command " + cmd}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
