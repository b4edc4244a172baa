import random, sys
def stream(rng):
    out = []
    for _ in range(rng.randint(5, 80)):
        k = rng.random()
        if k < 0.3: out.append("".join(rng.choice("abcdefgh ") for _ in range(rng.randint(1, 25))))
        elif k < 0.4: out.append(rng.choice(["\r\n", "\r", "\n", "\b", "\t"]))
        elif k < 0.45: out.append(rng.choice(["日本", "é", "e\u0301", "ab日", "😀"]))
        elif k < 0.75:
            n = rng.randint(0, 8)
            out.append("\x1b[%d%s" % (n, rng.choice("ABCDGJKLMPSTX@dEFZ")))
        elif k < 0.82: out.append("\x1b[%d;%dH" % (rng.randint(0, 8), rng.randint(0, 25)))
        elif k < 0.86: out.append("\x1b[%d;%dr" % (rng.randint(1, 6), rng.randint(1, 8)))
        elif k < 0.93: out.append(rng.choice(["\x1b7", "\x1b8", "\x1bM", "\x1bD", "\x1bE", "\x1b[2J", "\x1b[1K", "\x1b[2K", "\x1b[J", "\x1b[1J", "\x1b[s", "\x1b[u"]))
        else: out.append(rng.choice(["\x1b[?7l", "\x1b[?7h", "\x1b[4h", "\x1b[4l", "\x1b[?6h", "\x1b[?6l", "\x1bH", "\x1b[3g", "\x1b[g"]))
    return "".join(out).encode()
seed = int(sys.argv[1]); n = int(sys.argv[2])
for i in range(n):
    rng = random.Random(seed * 100000 + i)
    open("s%03d.bin" % i, "wb").write(stream(rng))
