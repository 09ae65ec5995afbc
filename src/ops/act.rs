//! Branch-free `exp`, `sigmoid` and `tanh` for f32 that LLVM vectorizes.
//!
//! A recurrent step spends as much time in its gate nonlinearities as in its GEMM when the
//! hidden size is small (bitcount: H=24, B=1000), and libm's scalar `expf` does not vectorize.
//! These use Cody-Waite range reduction and the Cephes `expf` polynomial: the integer part is
//! rounded with the 1.5·2^23 trick and scaled in by integer bit arithmetic, so there is no
//! branch, no libm call and no float-to-int cast in the loop. Accuracy is within a few ulp of
//! libm over the whole range (see the tests); NaN in gives NaN out, so divergence stays
//! visible. The f64 path uses std and is the reference these are checked against.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2^23: adding it rounds a float with |x| < 2^22 to an integer, kept in the low bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// e^x for f32, accurate to ~2 ulp; saturates to e^±88.3 outside that range.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // Comparisons rather than f32::min/max so that NaN propagates.
    let x = if x > 88.3 { 88.3 } else { x };
    let x = if x < -87.3 { -87.3 } else { x };
    let k = x * LOG2E + ROUND_MAGIC;
    let n = k - ROUND_MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // round(x*log2e) sits in the low mantissa bits of k; turn it into the exponent of 2^n.
    let n_int = k.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    y * scale
}

/// σ(x) = 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// tanh(x) = 1 - 2 / (e^{2x} + 1), with a Taylor polynomial near 0 where that form would
/// lose relative precision.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let big = 1.0 - 2.0 / (exp_f32(2.0 * x) + 1.0);
    let x2 = x * x;
    let small = x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0)));
    if x2 < 0.0625 * 0.0625 { small } else { big }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 1e-4).chain([-80.0, 80.0, 1e-8, -1e-8])
    }

    #[test]
    fn exp_matches_std_within_a_few_ulp() {
        let mut worst = 0.0f64;
        for x in sweep() {
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 4e-7, "max relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(1000.0).is_finite() && exp_f32(-1000.0) >= 0.0);
    }

    #[test]
    fn sigmoid_and_tanh_match_f64() {
        let (mut ws, mut wt) = (0.0f64, 0.0f64);
        for x in sweep() {
            let xd = x as f64;
            ws = ws.max((sigmoid_f32(x) as f64 - 1.0 / (1.0 + (-xd).exp())).abs());
            wt = wt.max((tanh_f32(x) as f64 - xd.tanh()).abs());
        }
        assert!(ws < 2e-7, "sigmoid max abs error {ws}");
        assert!(wt < 2e-7, "tanh max abs error {wt}");
        // Relative precision near zero, where 1 - 2/(e^2x+1) would cancel.
        assert!((tanh_f32(1e-6) - 1e-6).abs() < 1e-12);
        assert!(tanh_f32(f32::NAN).is_nan() && sigmoid_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(100.0), 1.0);
        assert_eq!(tanh_f32(-100.0), -1.0);
    }
}
