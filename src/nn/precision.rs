//! The arithmetic of the networks' largest matrix product: float32 (the default, Astra's),
//! or bfloat16 inputs with float32 accumulation (`--precision bf16`).

use crate::cpu::CpuFeatures;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The precision a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// float32 throughout: Astra's arithmetic.
    #[default]
    Float32,
    /// `dense_1` in bfloat16 with float32 accumulation on a CPU with AVX512-BF16; float32,
    /// with a notice, on any other.
    Bfloat16,
    /// The same bfloat16 arithmetic in software, bit for bit as Intel defines the
    /// instructions, on any CPU: slow, for seeing bfloat16's effect on the labels before
    /// running it on a CPU that has it.
    Bfloat16Emulated,
}

/// The arithmetic a network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arithmetic {
    /// float32 throughout.
    #[default]
    Float32,
    /// `dense_1`'s product in bfloat16 with float32 accumulation, by the given kernel.
    Bfloat16(Bf16Kernel),
}

/// Who does the bfloat16 dot products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bf16Kernel {
    /// The CPU's AVX512-BF16 instructions (`vdpbf16ps`).
    Native,
    /// [`crate::nn::bf16::dot_pair`], the same arithmetic in software.
    Emulated,
}

/// The names `--precision` accepts, in the order `--help` lists them.
pub const PRECISION_NAMES: [&str; 3] = ["f32", "bf16", "bf16-emulated"];

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Precision::Float32),
            "bf16" | "bfloat16" => Ok(Precision::Bfloat16),
            "bf16-emulated" => Ok(Precision::Bfloat16Emulated),
            _ => Err(format!(
                "unknown precision '{s}' (choose one of: {})",
                PRECISION_NAMES.join(", ")
            )),
        }
    }
}

impl Precision {
    /// The arithmetic this precision runs on a CPU with `features`, and, where that is not
    /// what was asked, a notice saying so (bfloat16 on a CPU without AVX512-BF16 runs
    /// float32: the notice must reach the user, never silently).
    pub fn resolve(self, features: CpuFeatures) -> (Arithmetic, Option<String>) {
        match self {
            Precision::Float32 => (Arithmetic::Float32, None),
            Precision::Bfloat16Emulated => (Arithmetic::Bfloat16(Bf16Kernel::Emulated), None),
            Precision::Bfloat16 if features.runs_native_bf16() => {
                (Arithmetic::Bfloat16(Bf16Kernel::Native), None)
            }
            Precision::Bfloat16 => (
                Arithmetic::Float32,
                Some(format!(
                    "--precision bf16: this CPU ({}) has no AVX512-BF16 instructions, so the \
                     networks run in float32 (--precision bf16-emulated shows bfloat16's \
                     effect on the labels here, slowly)",
                    crate::cpu::model_name()
                )),
            ),
        }
    }
}

impl Arithmetic {
    /// The arithmetic of this process's CPU for `precision`, with its notice (see
    /// [`Precision::resolve`]).
    pub fn for_this_cpu(precision: Precision) -> (Arithmetic, Option<String>) {
        precision.resolve(CpuFeatures::detect())
    }

    /// The value of the output header's `PRECISN` card.
    pub fn header_value(&self) -> &'static str {
        match self {
            Arithmetic::Float32 => "float32",
            Arithmetic::Bfloat16(Bf16Kernel::Native) => "bfloat16",
            Arithmetic::Bfloat16(Bf16Kernel::Emulated) => "bfloat16 (emulated)",
        }
    }
}

impl fmt::Display for Arithmetic {
    /// `float32`, or the bfloat16 mode and who computes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arithmetic::Float32 => f.write_str("float32"),
            Arithmetic::Bfloat16(Bf16Kernel::Native) => {
                f.write_str("bfloat16 dense_1 with float32 accumulation (AVX512-BF16)")
            }
            Arithmetic::Bfloat16(Bf16Kernel::Emulated) => {
                f.write_str("bfloat16 dense_1 with float32 accumulation (emulated in software)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(avx512_bf16: bool) -> CpuFeatures {
        CpuFeatures {
            avx2: true,
            fma: true,
            avx512f: avx512_bf16,
            avx512_bf16,
            amx_bf16: false,
        }
    }

    #[test]
    fn names_parse_and_unknown_ones_list_the_choices() {
        assert_eq!("f32".parse(), Ok(Precision::Float32));
        assert_eq!("BF16".parse(), Ok(Precision::Bfloat16));
        assert_eq!("bf16-emulated".parse(), Ok(Precision::Bfloat16Emulated));
        let err = "fp8".parse::<Precision>().unwrap_err();
        assert!(
            err.contains("fp8") && err.contains("bf16-emulated"),
            "{err}"
        );
    }

    #[test]
    fn bf16_without_avx512f_is_not_native() {
        // The native kernel is compiled for AVX512-F as well: BF16 alone is not enough.
        let odd = CpuFeatures {
            avx512f: false,
            ..cpu(true)
        };
        assert_eq!(Precision::Bfloat16.resolve(odd).0, Arithmetic::Float32);
    }

    #[test]
    fn bf16_runs_natively_only_where_the_cpu_has_it_and_says_so_elsewhere() {
        assert_eq!(
            Precision::Bfloat16.resolve(cpu(true)),
            (Arithmetic::Bfloat16(Bf16Kernel::Native), None)
        );
        let (arithmetic, notice) = Precision::Bfloat16.resolve(cpu(false));
        assert_eq!(arithmetic, Arithmetic::Float32);
        let notice = notice.expect("a notice");
        assert!(notice.contains("AVX512-BF16") && notice.contains("float32"));
        for features in [cpu(true), cpu(false)] {
            assert_eq!(
                Precision::Bfloat16Emulated.resolve(features),
                (Arithmetic::Bfloat16(Bf16Kernel::Emulated), None)
            );
            assert_eq!(
                Precision::Float32.resolve(features),
                (Arithmetic::Float32, None)
            );
        }
    }
}
