# ctypes_leak: python3 calling libc's malloc through ctypes, as C extensions and bindings do. Keeps
# some blocks in ctypes pointer objects (reachable), loses others (leaked: the only copy of the
# address was a Python int, whose digits are not a pointer), and builds C linked structures in
# malloc'd memory. Prints READY when the leaks exist, then waits for a line (or EOF) on stdin.
import ctypes
import sys

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


class Pair(ctypes.Structure):
    _fields_ = [("next", ctypes.c_void_p), ("payload", ctypes.c_void_p), ("n", ctypes.c_long)]


kept = []
for i in range(24):
    head = libc.malloc(ctypes.sizeof(Pair))
    pair = Pair.from_address(head)
    pair.payload = libc.malloc(64 + i)
    pair.next = None
    pair.n = i
    if i % 2 == 0:
        kept.append(ctypes.c_void_p(head))  # a raw pointer in a ctypes object: reachable
    # odd i: the address lives only in the Python int `head`, dropped on the next iteration
    del pair
churn = [bytes(200 + k) for k in range(500)]
del churn
print("READY", len(kept), flush=True)
sys.stdin.readline()
for p in kept:
    pair = Pair.from_address(p.value)
    libc.free(pair.payload)
    libc.free(p.value)
