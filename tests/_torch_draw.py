r"""A NumPy reproduction of torch's CPU generator for ``torch.manual_seed(s)`` followed by float32 ``torch.randn``.

Used only by the tests, so that a problem drawn by a published PyTorch script (P1's Fig. 3 script draws its
least-squares problem with ``torch.manual_seed(42)``) can be rebuilt without torch being a dependency and
without storing the draw in the repository. What torch (2.x, CPU, read from ATen's
``native/cpu/DistributionTemplates.h``, ``core/TransformationHelper.h`` and ``core/MT19937RNGEngine.h``) does:

* ``manual_seed(s)`` resets the default CPU generator to a 32-bit Mersenne Twister (MT19937) seeded by the
  reference ``init_genrand``: ``mt[0] = s mod 2³²``, ``mt[j] = 1812433253·(mt[j−1] ⊕ (mt[j−1] ≫ 30)) + j``
  (mod 2³²). Its 32-bit outputs are the reference MT19937's, which NumPy's ``np.random.MT19937`` produces once
  put in that state (:func:`mt19937_state`; identical to ``np.random.RandomState(s)``'s legacy seeding).
* a float32 uniform on [0, 1) is the low 24 bits of one 32-bit output times 2⁻²⁴ (exact in float32).
* ``randn`` of a contiguous float32 tensor with n ≥ 16 elements first fills all n uniforms u, then applies
  Box–Muller in place on blocks of 16: for j < 8, with u₁ = 1 − u[j] and u₂ = u[j + 8] (float32),
  r = √(−2 ln u₁), θ = 2π·u₂, u[j] ← r cos θ and u[j + 8] ← r sin θ, in float32. When n is not a multiple of
  16, 16 fresh uniforms are drawn and the Box–Muller block written over the last 16 elements.
  Tensors with fewer than 16 elements take a different (double-precision, cached-pair) path, not reproduced.

Which ln, cos and sin: on x86-64 CPUs with AVX2 (and with AVX-512, where torch 2.13 gives the same values) torch
runs a vectorized kernel that evaluates them with the Cephes float32 polynomials of ``avx_mathfun.h``
(``log256_ps``, ``sincos256_ps``) and θ = float32(2π)·u₂ in float32; the compiler fuses some multiply–add
pairs of those polynomials into FMAs. ``kernel="avx2"`` (the default) repeats exactly these float32 operations
and FMAs, and reproduces torch 2.13.0+cpu bit for bit (``tests/test_torch_draw.py`` pins values read from it).
Builds without AVX2 run the scalar loop (θ = float32(2π·u₂) with the product in double, then the C library's
``logf``/``cosf``/``sinf``; torch's ``ATEN_CPU_CAPABILITY=default``); ``kernel="scalar"``
evaluates those correctly rounded (in double, rounded once), which differs from glibc's in the last bit or two
of about 1.5 % of the elements (at most 3 ulp in the output, measured on 7.6·10⁵ draws). The two kernels differ
from each other in about 40 % of the elements, by at most 2.2·10⁻⁶ (θ is rounded differently; 10⁵ draws).
"""
from __future__ import annotations

import numpy as np

_N = 624
_F32, _I32 = np.float32, np.int32
# Cephes single-precision constants of avx_mathfun.h (ln: log_p0..p8, q1, q2; sin/cos: DP1..3, sincof, coscof)
_LOG_P = tuple(_F32(v) for v in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                                 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                                 3.3333331174e-1))
_LOG_Q1, _LOG_Q2, _SQRTHF = _F32(-2.12194440e-4), _F32(0.693359375), _F32(0.707106781186547524)
_DP = (_F32(-0.78515625), _F32(-2.4187564849853515625e-4), _F32(-3.77489497744594108e-8))
_SINCOF = (_F32(-1.9515295891e-4), _F32(8.3321608736e-3), _F32(-1.6666654611e-1))
_COSCOF = (_F32(2.443315711809948e-5), _F32(-1.388731625493765e-3), _F32(4.166664568298827e-2))
_FOPI = _F32(1.27323954473516)       # 4/π


def mt19937_state(seed: int) -> dict:
    """The MT19937 state of torch's ``manual_seed(seed)`` (reference ``init_genrand``), as NumPy's state dict."""
    if not 0 <= int(seed) < 2 ** 64:
        raise ValueError("seed must be in [0, 2**64)")
    key = np.empty(_N, dtype=np.uint32)
    m = int(seed) & 0xFFFFFFFF
    key[0] = m
    for j in range(1, _N):          # a serial recursion over the 624 state words, once per seed
        m = (1812433253 * (m ^ (m >> 30)) + j) & 0xFFFFFFFF
        key[j] = m
    # pos = 624: the first draw regenerates the whole state, as torch's (left_ = 1) engine does
    return {"bit_generator": "MT19937", "state": {"key": key, "pos": _N}}


class TorchCPUGenerator:
    """torch's default CPU generator after ``torch.manual_seed(seed)``, for float32 ``rand`` and ``randn``.

    ``kernel``: ``"avx2"`` (x86-64 with AVX2 or AVX-512; bit-exact) or ``"scalar"`` (builds without AVX2)."""

    def __init__(self, seed: int, kernel: str = "avx2"):
        if kernel not in ("avx2", "scalar"):
            raise ValueError("kernel must be 'avx2' or 'scalar'")
        self._box_muller = _box_muller_avx2 if kernel == "avx2" else _box_muller_scalar
        self._bits = np.random.MT19937()
        self._bits.state = mt19937_state(seed)

    def rand(self, n: int) -> np.ndarray:
        """``torch.rand(n)`` (float32): the low 24 bits of n 32-bit outputs, times 2⁻²⁴."""
        raw = self._bits.random_raw(int(n)).astype(np.uint32)
        return (raw & np.uint32(0xFFFFFF)).astype(_F32) * _F32(2.0 ** -24)

    def randn(self, *shape: int) -> np.ndarray:
        """``torch.randn(*shape)`` (float32, contiguous, at least 16 elements), Box–Muller in blocks of 16."""
        n = int(np.prod(shape))
        if n < 16:
            raise ValueError("tensors with fewer than 16 elements use torch's double-precision path, not reproduced")
        out = self.rand(n)
        full = n - n % 16
        out[:full] = self._box_muller(out[:full].reshape(-1, 16)).ravel()
        if n % 16:
            out[n - 16:] = self._box_muller(self.rand(16).reshape(1, 16)).ravel()
        return out.reshape(shape)


def _box_muller_scalar(u: np.ndarray) -> np.ndarray:
    """The scalar loop on rows of 16 uniforms: θ = float32(2π·u₂) with the product in double; logf, cosf, sinf
    correctly rounded (in double, rounded once); r = √(−2 ln u₁) and the products r cos θ, r sin θ in float32."""
    u1 = (_F32(1.0) - u[:, :8]).astype(np.float64)                   # (0, 1], exact
    theta = (2.0 * np.pi * u[:, 8:].astype(np.float64)).astype(_F32)
    radius = np.sqrt(_F32(-2.0) * np.log(u1).astype(_F32))          # -2·x exact, float32 sqrt correctly rounded
    cos = np.cos(theta.astype(np.float64)).astype(_F32)
    sin = np.sin(theta.astype(np.float64)).astype(_F32)
    return np.concatenate([radius * cos, radius * sin], axis=1)


def _box_muller_avx2(u: np.ndarray) -> np.ndarray:
    """The AVX2 kernel on rows of 16 uniforms: u₁ = 1 − u[:8], r = √(−2·log256(u₁)), θ = float32(2π)·u[8:],
    (sin, cos) = sincos256(θ), outputs r cos θ and r sin θ; every operation in float32."""
    radius = np.sqrt(_F32(-2.0) * _log256(_F32(1.0) - u[:, :8]))
    sin, cos = _sincos256(_F32(2.0 * np.pi) * u[:, 8:])
    return np.concatenate([radius * cos, radius * sin], axis=1)


def _fma(a, b, c) -> np.ndarray:
    """float32 fused multiply–add a·b + c with one rounding: a·b is exact in double; the double sum is rounded
    to odd (the TwoSum error decides the neighbour), after which rounding to float32 is correct."""
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)
    even = (s.view(np.int64) & 1) == 0
    s = np.where((err != 0) & even, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(_F32)


def _log256(x: np.ndarray) -> np.ndarray:
    """``log256_ps`` for positive normal float32 x: x = m·2^e with m in [½, 1), folded to [√½, √2), and the Cephes
    polynomial; the multiply–add pairs the compiler fused are FMAs here."""
    bits = x.view(_I32)
    e = ((bits >> 23) - 0x7F).astype(_F32) + _F32(1.0)
    m = ((bits & ~0x7F800000) | _F32(0.5).view(_I32)).view(_F32)
    small = m < _SQRTHF
    e = e - small.astype(_F32)
    x = (m - _F32(1.0)) + np.where(small, m, _F32(0.0))
    z = x * x
    y = np.full_like(x, _LOG_P[0])
    for p in _LOG_P[1:]:
        y = _fma(y, x, p)
    y = _fma(y * x, z, e * _LOG_Q1)
    y = _fma(-z, _F32(0.5), y)
    return _fma(e, _LOG_Q2, x + y)


def _sincos256(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sincos256_ps`` for float32 x ≥ 0: octant j = even rounding of x·4/π, x − j·π/4 in three parts, the Cephes
    sine and cosine polynomials, selected and signed by j."""
    j = (x * _FOPI).astype(_I32)
    j = (j + 1) & ~1
    y = j.astype(_F32)
    for dp in _DP:
        x = _fma(y, dp, x)
    z = x * x
    yc = _fma(_fma(np.full_like(z, _COSCOF[0]), z, _COSCOF[1]), z, _COSCOF[2]) * z
    yc = _fma(yc, z, -(z * _F32(0.5))) + _F32(1.0)
    ys = _fma(_fma(np.full_like(z, _SINCOF[0]), z, _SINCOF[1]), z, _SINCOF[2]) * z
    ys = _fma(ys, x, x)
    first = (j & 2) == 0
    sin, cos = np.where(first, ys, yc), np.where(first, yc, ys)
    return np.where((j & 4) != 0, -sin, sin), np.where((~(j - 2) & 4) != 0, -cos, cos)


def p1_authors_problem(seed: int = 42, kernel: str = "avx2") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The least-squares draw of P1's Fig. 3 script: ``torch.manual_seed(seed); x* = 0.3·randn(40);
    A = 0.5·randn(100, 40); y = A x*`` (float32). Returns (x*, A, y) as float32 arrays.

    The scalings are float32 products with float32(0.3) and float32(0.5), as torch multiplies a float32 tensor
    by a Python scalar. y is A x* summed in double and rounded once to float32; torch's float32 BLAS sums in
    its own order, so y can differ from torch's in the last bits."""
    g = TorchCPUGenerator(seed, kernel)
    x_star = _F32(0.3) * g.randn(40)
    A = _F32(0.5) * g.randn(100, 40)
    y = (A.astype(np.float64) @ x_star.astype(np.float64)).astype(_F32)
    return x_star, A, y
