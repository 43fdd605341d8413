#!/usr/bin/env python3
"""A fast webhook sink for bench/serve.py: answers every POST 200 at once (asyncio, keep-alive),
keeps (receive time, webhook-id, body) in memory, answers GET /count with how many it has, and
writes them as JSON lines to --out when it gets SIGTERM."""
import argparse
import asyncio
import json
import signal
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    got = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "GET":
                    answer = str(len(got)).encode()
                else:
                    got.append((time.time(), headers.get("webhook-id", ""), body))
                    answer = b"{}"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", args.port, backlog=1024)
        print(f"sink: listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()
        with open(args.out, "w") as f:
            for t, i, b in got:
                f.write(json.dumps({"t": t, "id": i, "body": b.decode()}) + "\n")

    asyncio.run(serve())


if __name__ == "__main__":
    main()
