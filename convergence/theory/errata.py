r"""Catalogue of the errata and inconsistencies found in the papers, each linked to its evidence.

Every entry of kind ``math`` names the ``proofs_checks`` module that reproduces
both the printed and the corrected statement (``convergence errata`` runs it and
prints its numbers) and, where one exists, the registered bounds of both
versions (``convergence.theory.bounds``). Entries of the other kinds (experiment
settings, code, presentation) are documentation findings without a
mathematical check; ``convergence errata`` lists them too.
"""
from __future__ import annotations

from dataclasses import dataclass

from convergence.theory.verdicts import Verdict

__all__ = ["Erratum", "ERRATA", "math_errata", "get_erratum"]


@dataclass(frozen=True)
class Erratum:
    """One erratum.

    Attributes:
        id: short identifier.
        source: where it is printed (paper, equation).
        printed: the statement as printed.
        corrected: the statement the derivation supports.
        kind: "math" | "settings" | "code" | "presentation".
        check: ``proofs_checks`` module (file stem) that reproduces it ("" if none).
        bounds: names of the registered bounds (printed and corrected) it concerns.
    """

    id: str
    source: str
    printed: str
    corrected: str
    kind: str = "math"
    check: str = ""
    bounds: tuple[str, ...] = ()

    def verdict(self, passed: bool | None) -> Verdict:
        """The verdict given the outcome of its check: ``noted`` for a finding without a mathematical
        check, ``not checked`` when the check did not run (``passed`` None), else ``erratum confirmed``
        (the check reproduced the printed-vs-corrected discrepancy) or ``fails``."""
        if self.kind != "math" and not self.check:
            return Verdict.NOTED
        if passed is None:
            return Verdict.NOT_CHECKED
        return Verdict.ERRATUM_CONFIRMED if passed else Verdict.FAILS


def _code(path: str) -> str:
    """A file of the authors' public code (P1's scripts in NeurIPS-2024/, P2's in NeurIPS-2025/)."""
    return f"the authors' code (github.com/Zhaoxian-Wu/analog-training, {path})"


ERRATA: tuple[Erratum, ...] = (
    Erratum("p1-thm3-factor4", "P1 Theorem 3, App. G.2 eq (98)",
            "the lower-bound instance has error 4 sigma^2 S_K + Theta(alpha) (so 4 sigma^2 S_K cannot be improved)",
            "the instance gives sigma^2 S_K + Theta(alpha): "
            "eq (98) drops the 1/2 in sqrt(p(1-p)) = sqrt(1-w^2/tau^2)/2; "
            "Omega(sigma^2 S_K + 1/sqrt K) survives, a factor-4 gap between bound and instance remains",
            check="d08_two_point_noise",
            bounds=("p1.thm3.lower", "p1.thm3.lower_printed", "p1.thm3.instance_floor",
                    "p1.thm3.instance_floor_printed")),
    Erratum("p1-linear-step-g-sign", "P1 App. C.1 eq (23)",
            "G(w) = -1/2 (1/tau_max - 1/tau_min)(w - w_sym)",
            "G(w) = (q- - q+)/2 = +1/2 (1/tau_max - 1/tau_min)(w - w_sym) (reduces to w/tau for tau_max = -tau_min)",
            check="p1_linear_step_g_sign"),
    Erratum("p1-eq20-pulse-error", "P1 App. B eq (20)",
            "|U_p^BL(w, s) - U(w, dW)| <= dw_min/tau + dW^2/(2 tau)",
            "|w_n - U| <= ((tau - w)/tau)(|n dw_min - dW| + n(n-1) dw_min^2/(2 tau)); the factor q+(w) = (tau - w)/tau "
            "reaches 2 in the fast-reset direction, so the printed bound fails with eq (16)'s pulse count n rounded "
            "to nearest or up (other rounding rules not checked)",
            check="p1_eq20_pulse_error"),
    Erratum("p1-thm6-min-max", "P1 Theorem 6 (App. D.1)",
            "|w_k| <= min{|w_0|, |w*|}",
            "|w_k| <= max{|w_0|, |w*|} (w_k lies between w_0 and w*)",
            check="p1_thm6_max_bound"),
    Erratum("p1-thm4-beta", "P1 Theorem 4 statement vs proof eq (137)-(138)",
            "beta = 8 alpha L",
            "beta = 8 alpha L tau^2 D / sigma^2 (the proof's step-size window starts there)",
            check="p1_thm4_beta"),
    Erratum("p1-assumption5-c", "P1 Assumption 5 / App. D.2",
            "Gaussian noise gives c = sqrt(2/pi)",
            "with per-coordinate variance sigma^2/D (as Assumption 5 requires) c = sqrt(2/(pi D))",
            check="p1_assumption5_gaussian_c", bounds=("p1.thm4.c_gaussian", "p1.thm4.c_printed")),
    Erratum("p2-ws-sign", "P2-v3 eq (48) (Theorem 5)",
            "W^S = (H - grad R(W_sym) Sigma)^(-1) (H W* - grad R(W_sym) Sigma W_sym)",
            "W^S = (H + Diag(Sigma) grad R(W_sym))^(-1) (H W* + Diag(Sigma) grad R(W_sym) W_sym); "
            "L = 1, W* = 0.5, Sigma/tau = 0.4: printed 0.83, corrected 0.36",
            check="p2_ws_linearisation", bounds=("p2.thm5.w_s", "p2.thm5.w_s_printed")),
    Erratum("p2-hypergradient", "P2-v3 §4 (CR fixes it)",
            "P*(W) + W = W*, grad P*(W) = -I",
            "gamma P*(W) + W = W*, grad P*(W) = -(1/gamma) I, grad ||P*(W)||^2 = -(2/gamma) P*(W)",
            check="p2_hypergradient"),
    Erratum("p1-lemma8-condition", "P1 Lemma 8 (App. H.4), eq (128)",
            "under Assumption 1: f(W_k+1) <= ... + alpha sigma/(tau sqrt D) ||P_k+1 - C grad f(W_k)||^2 "
            "+ alpha ||P_k+1||^2",
            "the last step needs sigma ||W_k||_inf^2 <= tau^3 sqrt(D); in general the last term is "
            "(alpha sigma ||W_k||_inf^2/(tau^3 sqrt D)) ||P_k+1||^2 (D = 4, sigma = 4, W_k = W* = 0.9: printed fails)",
            check="p1_lemma8_tt_descent"),
    Erratum("p2-lemma3-lipschitz", "P2-v3 Lemma 3 (App. E.3), eqs (30)-(32)",
            "the increment dW F(W) - |dW| G(W) is F_max-Lipschitz in dW",
            "its Lipschitz constant is max{q+(W), q-(W)} = F(W) + |G(W)| <= q_max <= 2 F_max (the proof's "
            "|(x - y)F - (|x| - |y|)G| <= |x - y|(F - |G|) has the wrong sign); "
            "soft bounds tau = 1, w = 0.5: 1.5 > F_max = 1",
            check="p2_lemma3_update_lipschitz"),
    Erratum("p2-lemma6-gamma", "P2-v3 Lemma 6 (App. I.3), eqs (73), (107)-(111)",
            "||W_k+1 - W*||^2 <= ... + (2 beta F_max^3/gamma) ||P_k+1 - P*||^2_{R^dagger} + 2 beta^2 ||P_k+1 - P*||^2 "
            "for beta <= gamma/(2 F_max)",
            "eq (107) writes the cross term 2 beta <W - W*, .> as (2 beta/gamma) <., .> and uses Lemma 3's constant; "
            "the bound holds with (2 beta gamma F_max q_max^2) and 2 beta^2 q_max^2 and beta <= gamma/(4 F_max); "
            "the printed one fails on soft bounds for gamma >= 2",
            check="p2_lemmas_5_6_7_rl_one_step"),
    Erratum("p2-rlv2-buffer-radius", "P2 §5, after eq (14)",
            "with a fixed P, H_k converges to a neighbourhood of P with radius O(beta)",
            "E||H_k - P||^2 -> D sigma^2 beta/(2 - beta): the squared radius is O(beta), the radius O(sqrt(beta)) "
            "(0 without read noise)",
            check="p2_rlv2_buffer_tracking"),
    Erratum("p1-fig1-noise", "P1 App. I.1 vs " + _code("NeurIPS-2024/S1-SGD-diff-lr.py"),
            "gradient noise variance (0.01/D)^2", "code: noise std 0.01/sqrt(D)", kind="settings"),
    Erratum("p1-fig3-settings", "P1 App. I.1 vs " + _code("NeurIPS-2024/S2-dynamic-verification.py"),
            "sigma_g^2 = 0.1, sigma_W*^2 = 0.3, 2 tau / dw_min = 300",
            "code: noise std 0.1, W* std 0.3, tau / dw_min = 300", kind="settings"),
    Erratum("p1-mnist-lr", "P1 §5.3 vs " + _code("NeurIPS-2024/S4.1-mnist-FCN.py"),
            "digital lr 0.1", "code: lr 0.05 for FP SGD", kind="settings"),
    Erratum("p1-s31-duplicate", "P1, " + _code("NeurIPS-2024/S3.1-ablation-tau.py"),
            "tau ablation of Fig. 4-left", "file duplicates S2 (tau in {1, 1.5, 2, 2.5}); Fig. 4-left settings missing",
            kind="code"),
    Erratum("p2-s1-legend", "P2, " + _code("NeurIPS-2025/S1-TT-fails.py"),
            "legend: '-'/'*' = Tiki-Taka", "the '-'/'*' curves come from run_AGD (legend appears swapped)",
            kind="code"),
    Erratum("p2-tables-identical", "P2 Table 1 vs Table 5 (CR)",
            "power and exponential responses", "identical numbers in both tables (likely copy error)",
            kind="presentation"),
    Erratum("p2-alpha-beta", "P2 experiments vs recursion (10)-(11)",
            "alpha = 0.05 (rate on P), beta = 0.01 (transfer)",
            "in the code the P rate is 0.01 and the transfer rate 0.05 (P1 notation)", kind="presentation"),
    Erratum("p2-readme", "P2 vs " + _code("NeurIPS-2025/README.md"),
            "Fig. 4: power response gamma_res = 0.5; ResNet lr 0.075",
            "README commands: default soft-bounds device; lr 0.15", kind="settings"),
    Erratum("p2-v3-vs-cr", "P2-v3 vs CR",
            "v3: Definition 1 with saturation, A3 bounded saturation, Corollary 1 gamma >= R_min^(-1/5)",
            "CR: q_min/q_max Definition 1, A3 strong convexity, gamma >= q_min^(-2/5)", kind="presentation"),
)


def math_errata() -> tuple[Erratum, ...]:
    """The errata that concern mathematics (each has a check)."""
    return tuple(e for e in ERRATA if e.kind == "math")


def get_erratum(erratum_id: str) -> Erratum:
    for e in ERRATA:
        if e.id == erratum_id:
            return e
    raise KeyError(erratum_id)
