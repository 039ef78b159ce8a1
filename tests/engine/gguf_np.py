"""gguf_np.py - GGUF v3 writing and reading, the GGML block formats (quantise and dequantise)
and a reference llama/qwen2 forward pass, all in numpy and independent of seekd's C code.
Used by gen_gguf.py (test models, bench models) and check_logits.py (the logits test)."""
import struct

import numpy as np

# ---- tensor types (GGML numbering) ----
F32, F16, Q4_0, Q8_0, Q4_K, Q6_K, BF16 = 0, 1, 2, 8, 12, 14, 30
TYPE_NAMES = {"f32": F32, "f16": F16, "bf16": BF16, "q8_0": Q8_0, "q4_0": Q4_0,
              "q4_k": Q4_K, "q6_k": Q6_K}
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q8_0: (32, 34), Q4_0: (32, 18),
         Q4_K: (256, 144), Q6_K: (256, 210)}

# ---- half floats ----


def to_bf16_bits(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even
    return u.astype(np.uint16)


def from_bf16_bits(h):
    return (h.astype(np.uint32) << 16).view(np.float32)


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


# ---- quantisation: float rows (rows, n) -> bytes ----


def quantize(x, ty):
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows, n = x.shape
    if ty == F32:
        return x.tobytes()
    if ty == F16:
        return x.astype(np.float16).tobytes()
    if ty == BF16:
        return to_bf16_bits(x).tobytes()
    if ty == Q8_0:
        b = x.reshape(-1, 32)
        d = f16(np.abs(b).max(axis=1) / 127)
        df = d.astype(np.float32)
        q = np.where(df[:, None] > 0, np.rint(b / np.where(df > 0, df, 1)[:, None]), 0)
        q = np.clip(q, -127, 127).astype(np.int8)
        out = np.empty((b.shape[0], 34), np.uint8)
        out[:, :2] = d.view(np.uint8).reshape(-1, 2)
        out[:, 2:] = q.view(np.uint8)
        return out.tobytes()
    if ty == Q4_0:
        b = x.reshape(-1, 32)
        d = f16(np.abs(b).max(axis=1) / 7)
        df = d.astype(np.float32)
        q = np.rint(b / np.where(df > 0, df, 1)[:, None]) + 8
        q = np.clip(np.where(df[:, None] > 0, q, 8), 0, 15).astype(np.uint8)
        out = np.empty((b.shape[0], 18), np.uint8)
        out[:, :2] = d.view(np.uint8).reshape(-1, 2)
        out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
        return out.tobytes()
    if ty == Q4_K:
        b = x.reshape(-1, 8, 32)
        mn = np.minimum(b.min(axis=2), 0)
        scale = (b.max(axis=2) - mn) / 15
        mins = -mn
        d = f16(scale.max(axis=1) / 63)
        dmin = f16(mins.max(axis=1) / 63)
        df, dmf = d.astype(np.float32), dmin.astype(np.float32)
        sc = np.clip(np.rint(scale / np.where(df > 0, df, 1)[:, None]), 0, 63).astype(np.uint8)
        m = np.clip(np.rint(mins / np.where(dmf > 0, dmf, 1)[:, None]), 0, 63).astype(np.uint8)
        es = df[:, None] * sc
        em = dmf[:, None] * m
        q = np.rint((b + em[:, :, None]) / np.where(es > 0, es, 1)[:, :, None])
        q = np.clip(np.where(es[:, :, None] > 0, q, 0), 0, 15).astype(np.uint8)
        out = np.zeros((b.shape[0], 144), np.uint8)
        out[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
        out[:, 2:4] = dmin.view(np.uint8).reshape(-1, 2)
        s = out[:, 4:16]
        s[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
        s[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
        s[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
        for c in range(4):
            out[:, 16 + 32 * c:16 + 32 * c + 32] = q[:, 2 * c] | (q[:, 2 * c + 1] << 4)
        return out.tobytes()
    if ty == Q6_K:
        b = x.reshape(-1, 16, 16)
        scale = np.abs(b).max(axis=2) / 31
        d = f16(scale.max(axis=1) / 127)
        df = d.astype(np.float32)
        sc = np.clip(np.rint(scale / np.where(df > 0, df, 1)[:, None]), -128, 127).astype(np.int8)
        es = df[:, None] * sc
        q = np.rint(b / np.where(es != 0, es, 1)[:, :, None])
        q = (np.clip(np.where(es[:, :, None] != 0, q, 0), -32, 31) + 32).astype(np.uint8)
        q = q.reshape(-1, 256)
        out = np.zeros((q.shape[0], 210), np.uint8)
        for h in range(2):
            v = q[:, 128 * h:128 * h + 128]
            q1, q2, q3, q4 = v[:, 0:32], v[:, 32:64], v[:, 64:96], v[:, 96:128]
            out[:, 64 * h:64 * h + 32] = (q1 & 15) | ((q3 & 15) << 4)
            out[:, 64 * h + 32:64 * h + 64] = (q2 & 15) | ((q4 & 15) << 4)
            out[:, 128 + 32 * h:128 + 32 * h + 32] = ((q1 >> 4) | ((q2 >> 4) << 2) |
                                                      ((q3 >> 4) << 4) | ((q4 >> 4) << 6))
        out[:, 192:208] = sc.view(np.uint8)
        out[:, 208:210] = d.view(np.uint8).reshape(-1, 2)
        return out.tobytes()
    raise ValueError(ty)


# ---- dequantisation: bytes -> float (rows, n), written from the format, not from quantize ----


def dequantize(raw, ty, rows, n):
    a = np.frombuffer(raw, dtype=np.uint8)
    if ty == F32:
        return a.view(np.float32).reshape(rows, n).astype(np.float64)
    if ty == F16:
        return a.view(np.float16).reshape(rows, n).astype(np.float64)
    if ty == BF16:
        return from_bf16_bits(a.view(np.uint16)).reshape(rows, n).astype(np.float64)
    bs, bb = BLOCK[ty]
    blk = a.reshape(-1, bb)
    if ty == Q8_0:
        d = blk[:, :2].copy().view(np.float16).astype(np.float64)
        q = blk[:, 2:].view(np.int8).astype(np.float64)
        return (d * q).reshape(rows, n)
    if ty == Q4_0:
        d = blk[:, :2].copy().view(np.float16).astype(np.float64)
        qs = blk[:, 2:]
        q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float64) - 8
        return (d * q).reshape(rows, n)
    if ty == Q4_K:
        d = blk[:, 0:2].copy().view(np.float16).astype(np.float64)[:, 0]
        dmin = blk[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
        s = blk[:, 4:16].astype(np.int64)
        sc = np.zeros((blk.shape[0], 8))
        mn = np.zeros((blk.shape[0], 8))
        for j in range(8):
            if j < 4:
                sc[:, j] = s[:, j] & 63
                mn[:, j] = s[:, j + 4] & 63
            else:
                sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
                mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
        qs = blk[:, 16:]
        out = np.zeros((blk.shape[0], 256))
        for j in range(8):
            chunk = qs[:, 32 * (j // 2):32 * (j // 2) + 32]
            nib = (chunk & 15) if j % 2 == 0 else (chunk >> 4)
            out[:, 32 * j:32 * j + 32] = (d * sc[:, j])[:, None] * nib - (dmin * mn[:, j])[:, None]
        return out.reshape(rows, n)
    if ty == Q6_K:
        ql, qh = blk[:, 0:128].astype(np.int64), blk[:, 128:192].astype(np.int64)
        sc = blk[:, 192:208].view(np.int8).astype(np.float64)
        d = blk[:, 208:210].copy().view(np.float16).astype(np.float64)[:, 0]
        out = np.zeros((blk.shape[0], 256))
        for i in range(256):
            h, r = divmod(i, 128)
            k, l = divmod(r, 32)
            lo = ql[:, 64 * h + l + (32 if k in (1, 3) else 0)]
            lo = (lo & 15) if k < 2 else (lo >> 4)
            hi = (qh[:, 32 * h + l] >> (2 * k)) & 3
            q = (lo | (hi << 4)) - 32
            out[:, i] = d * sc[:, 8 * h + l // 16 + 2 * k] * q
        return out.reshape(rows, n)
    raise ValueError(ty)


# ---- GGUF writing ----

U32, I32, F32V, BOOL, STR, ARR = 4, 5, 6, 7, 8, 9


def _s(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<Q", len(b)) + b


class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []  # (name, type, shape(ne0 first), bytes)

    def add(self, key, vtype, val, etype=None):
        self.kv.append((key, vtype, val, etype))

    def tensor(self, name, ty, ne, data):
        self.tensors.append((name, ty, ne, data))

    def write(self, path, align=32):
        out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for key, vt, val, et in self.kv:
            out += _s(key) + struct.pack("<I", vt)
            if vt == STR:
                out += _s(val)
            elif vt == U32:
                out += struct.pack("<I", val)
            elif vt == I32:
                out += struct.pack("<i", val)
            elif vt == F32V:
                out += struct.pack("<f", val)
            elif vt == BOOL:
                out += struct.pack("<B", 1 if val else 0)
            elif vt == ARR:
                out += struct.pack("<IQ", et, len(val))
                if et == STR:
                    for v in val:
                        out += _s(v)
                elif et == F32V:
                    out += np.asarray(val, np.float32).tobytes()
                elif et == I32:
                    out += np.asarray(val, np.int32).tobytes()
        off = 0
        offs = []
        for name, ty, ne, data in self.tensors:
            out += _s(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
            out += struct.pack("<IQ", ty, off)
            offs.append(off)
            off += (len(data) + align - 1) // align * align
        with open(path, "wb") as f:
            f.write(out)
            f.write(b"\0" * ((align - len(out) % align) % align))
            for name, ty, ne, data in self.tensors:
                f.write(data)
                f.write(b"\0" * ((align - len(data) % align) % align))


# ---- GGUF reading (for the reference: tensors dequantised by the functions above) ----


def read(path):
    buf = open(path, "rb").read()
    assert buf[:4] == b"GGUF"
    ver, nt, nkv = struct.unpack_from("<IQQ", buf, 4)
    pos = 24
    meta = {}

    def rstr(p):
        (n,) = struct.unpack_from("<Q", buf, p)
        return buf[p + 8:p + 8 + n].decode("utf-8", "replace"), p + 8 + n

    scal = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q",
            11: "<q", 12: "<d"}

    def rval(p, vt):
        if vt == STR:
            return rstr(p)
        if vt == ARR:
            et, n = struct.unpack_from("<IQ", buf, p)
            p += 12
            vals = []
            for _ in range(n):
                v, p = rval(p, et)
                vals.append(v)
            return vals, p
        (v,) = struct.unpack_from(scal[vt], buf, p)
        return v, p + struct.calcsize(scal[vt])

    for _ in range(nkv):
        k, pos = rstr(pos)
        (vt,) = struct.unpack_from("<I", buf, pos)
        v, pos = rval(pos + 4, vt)
        meta[k] = v
    infos = []
    for _ in range(nt):
        name, pos = rstr(pos)
        (nd,) = struct.unpack_from("<I", buf, pos)
        ne = struct.unpack_from("<%dQ" % nd, buf, pos + 4)
        ty, off = struct.unpack_from("<IQ", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append((name, ne, ty, off))
    align = meta.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    tensors = {}
    types = {}
    for name, ne, ty, off in infos:
        types[name] = ty
        bs, bb = BLOCK[ty]
        n = ne[0]
        rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
        size = rows * (n // bs) * bb
        t = dequantize(buf[base + off:base + off + size], ty, rows, n)
        tensors[name] = t if len(ne) > 1 else t[0]
    tensors["__types__"] = types
    return meta, tensors


# ---- reference forward pass (float64) ----


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w


def rope(v, pos, base, neox, scale=1.0, factors=None):
    # v: (T, heads, hd); positions divided by a linear scale, frequencies by per-dim factors
    hd = v.shape[-1]
    half = hd // 2
    inv = base ** (-2.0 * np.arange(half) / hd)
    if factors is not None:
        inv = inv / factors
    th = (pos / scale)[:, None] * inv[None, :]  # (T, half)
    c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
    out = v.copy()
    if neox:
        a, b = v[..., :half], v[..., half:]
        out[..., :half] = a * c - b * s
        out[..., half:] = a * s + b * c
    else:
        a, b = v[..., 0::2], v[..., 1::2]
        out[..., 0::2] = a * c - b * s
        out[..., 1::2] = a * s + b * c
    return out


def quant_act(x, ty):
    """What seekd's kernels see of activation rows x for weights of type ty: int8 blocks of 32
    (Q8_0, Q4_0) or 256 (K-quants) with d = max|x| / 127, rounded in float32 as the C code does;
    float types see x unchanged."""
    bs = {Q8_0: 32, Q4_0: 32, Q4_K: 256, Q6_K: 256}.get(ty)
    if bs is None:
        return x
    xf = np.asarray(x, np.float32).reshape(-1, bs)
    d = (np.abs(xf).max(axis=1) / np.float32(127)).astype(np.float32)
    inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.rint(xf * inv[:, None])
    return (q.astype(np.float64) * d[:, None].astype(np.float64)).reshape(x.shape)


def forward(meta, t, ids, emulate_act=False):
    """Logits (T, vocab) of ids in float64. emulate_act: quantise each matmul's input as seekd
    does, so only float rounding separates the two."""
    types = t.get("__types__", {})

    def mm(x, name):
        if emulate_act:
            x = quant_act(x, types.get(name, F32))
        return x @ t[name].T

    arch = meta["general.architecture"]
    g = lambda k, d=None: meta.get("%s.%s" % (arch, k), d)
    dim, L, nh = g("embedding_length"), g("block_count"), g("attention.head_count")
    nkv = g("attention.head_count_kv", nh)
    eps = g("attention.layer_norm_rms_epsilon", 1e-5)
    base = g("rope.freq_base", 10000.0)
    scale = g("rope.scaling.factor", 1.0) if g("rope.scaling.type") == "linear" else 1.0
    factors = t.get("rope_freqs.weight")
    neox = arch == "qwen2"
    hd = dim // nh
    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    x = t["token_embd.weight"][ids].copy()
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = "blk.%d." % l
        xn = rmsnorm(x, t[p + "attn_norm.weight"], eps)
        q = mm(xn, p + "attn_q.weight")
        k = mm(xn, p + "attn_k.weight")
        v = mm(xn, p + "attn_v.weight")
        if p + "attn_q.bias" in t:
            q, k, v = q + t[p + "attn_q.bias"], k + t[p + "attn_k.bias"], v + t[p + "attn_v.bias"]
        q = rope(q.reshape(T, nh, hd), pos, base, neox, scale, factors)
        k = rope(k.reshape(T, nkv, hd), pos, base, neox, scale, factors)
        v = v.reshape(T, nkv, hd)
        rep = nh // nkv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
        x = x + mm(o, p + "attn_output.weight")
        xn = rmsnorm(x, t[p + "ffn_norm.weight"], eps)
        gt = mm(xn, p + "ffn_gate.weight")
        h = gt / (1 + np.exp(-gt)) * mm(xn, p + "ffn_up.weight")
        x = x + mm(h, p + "ffn_down.weight")
    out = "output.weight" if "output.weight" in t else "token_embd.weight"
    return mm(rmsnorm(x, t["output_norm.weight"], eps), out)
