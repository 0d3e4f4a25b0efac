#!/usr/bin/env python3
"""bench/load_keys.py CLI HOST PORT KEYS [SIZE]: write KEYS distinct keys (`k:<n>`, no hash tag,
so they spread over every slot like real data) of SIZE bytes (100) into the cluster that
HOST:PORT belongs to. Each key goes to the master that owns its slot (CRC16, as clients
route), as one RESP stream per master piped into `CLI --pipe` (valkey-cli or redis-cli).
Prints the number of keys written. redis-benchmark --cluster is no loader for slot moves: it
puts every key of a master under one hash tag, i.e. into one slot."""
import subprocess, sys

def crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc

# CRC16 of every 2-byte suffix would be slow in pure Python; a table makes 1M keys take ~4 s.
TABLE = []
for i in range(256):
    c = i << 8
    for _ in range(8):
        c = ((c << 1) ^ 0x1021) if c & 0x8000 else c << 1
        c &= 0xFFFF
    TABLE.append(c)

def slot(key: bytes) -> int:
    crc = 0
    for b in key:
        crc = ((crc << 8) & 0xFFFF) ^ TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc % 16384

def main() -> None:
    cli, host, port, keys = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    assert slot(b"123456789") == 0x31C3 % 16384 and crc16(b"123456789") == 0x31C3
    nodes = subprocess.run([cli, "-h", host, "-p", port, "cluster", "nodes"],
                           capture_output=True, text=True, check=True).stdout
    owner = [None] * 16384
    for line in nodes.splitlines():
        f = line.split()
        if "master" not in f[2]:
            continue
        addr = f[1].split("@")[0]
        for r in f[8:]:
            if r.startswith("["):
                continue
            a, _, b = r.partition("-")
            for s in range(int(a), int(b or a) + 1):
                owner[s] = addr
    streams = {}
    value = b"v" * size
    for n in range(keys):
        key = b"k:%d" % n
        out = streams.setdefault(owner[slot(key)], [])
        out.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, size, value))
    procs = []
    for addr, cmds in streams.items():
        h, _, p = addr.rpartition(":")
        proc = subprocess.Popen([cli, "-h", h, "-p", p, "--pipe"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL)
        proc.stdin.write(b"".join(cmds))
        proc.stdin.close()
        procs.append(proc)
    if any(p.wait() != 0 for p in procs):
        sys.exit("load_keys: a --pipe failed")
    print(keys)

main()
