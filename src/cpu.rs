//! The processor a run is on: its name and the vector and matrix extensions that decide how
//! fast the networks' products can go (`astronn bench` prints them beside its numbers).

use std::fmt;

/// The instruction-set extensions relevant to float32 and bfloat16 matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    /// 256-bit vectors (with FMA: the `gemm` crate's x86-v3 kernels).
    pub avx2: bool,
    /// Fused multiply-add.
    pub fma: bool,
    /// 512-bit vectors, usable by this process (the `gemm` crate's x86-v4 kernels).
    pub avx512f: bool,
    /// AVX-512 bfloat16 dot products (`vdpbf16ps`).
    pub avx512_bf16: bool,
    /// AMX tiles with bfloat16 products, as the processor reports them (the operating
    /// system must still grant a process the tile state before it may use them).
    pub amx_bf16: bool,
}

impl CpuFeatures {
    /// The extensions of the processor this runs on (all absent off x86-64).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            CpuFeatures {
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                fma: std::arch::is_x86_feature_detected!("fma"),
                avx512f: std::arch::is_x86_feature_detected!("avx512f"),
                avx512_bf16: std::arch::is_x86_feature_detected!("avx512bf16"),
                // AMX-BF16 (bit 22) and AMX tiles (bit 24) of CPUID leaf 7.
                amx_bf16: cpuid_edx_bit(7, 0, 22) && cpuid_edx_bit(7, 0, 24),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        CpuFeatures::default()
    }

    /// Whether the native bfloat16 kernel may run: it is compiled for AVX512-F and
    /// AVX512-BF16, so the CPU must have both (a virtual machine may report one without
    /// the other).
    pub fn runs_native_bf16(&self) -> bool {
        self.avx512f && self.avx512_bf16
    }

    /// Each extension's name and whether the processor has it, in a fixed order.
    pub fn list(&self) -> [(&'static str, bool); 5] {
        [
            ("AVX2", self.avx2),
            ("FMA", self.fma),
            ("AVX-512", self.avx512f),
            ("AVX512-BF16", self.avx512_bf16),
            ("AMX-BF16", self.amx_bf16),
        ]
    }
}

impl fmt::Display for CpuFeatures {
    /// `AVX2 yes, FMA yes, AVX-512 no, AVX512-BF16 no, AMX-BF16 no`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .list()
            .iter()
            .map(|(name, present)| format!("{name} {}", if *present { "yes" } else { "no" }))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Bit `bit` of EDX in CPUID leaf `leaf`, sub-leaf `sub_leaf` (false where the processor
/// has no such leaf). Used for AMX, whose `is_x86_feature_detected!` names are not stable.
#[cfg(target_arch = "x86_64")]
fn cpuid_edx_bit(leaf: u32, sub_leaf: u32, bit: u32) -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86-64 processor; leaves beyond the highest one are
    // never asked for.
    #[allow(unused_unsafe)]
    let answer = unsafe {
        if __cpuid(0).eax < leaf {
            return false;
        }
        __cpuid_count(leaf, sub_leaf)
    };
    answer.edx >> bit & 1 == 1
}

/// The processor's model name (from `/proc/cpuinfo`; "unknown CPU" where there is none).
pub fn model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_names_every_extension_once_in_order() {
        let features = CpuFeatures {
            avx2: true,
            fma: true,
            avx512f: false,
            avx512_bf16: false,
            amx_bf16: false,
        };
        assert_eq!(
            features.to_string(),
            "AVX2 yes, FMA yes, AVX-512 no, AVX512-BF16 no, AMX-BF16 no"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detection_agrees_with_the_standard_library_and_with_itself() {
        let features = CpuFeatures::detect();
        assert_eq!(features.avx2, std::arch::is_x86_feature_detected!("avx2"));
        assert_eq!(
            features.avx512f,
            std::arch::is_x86_feature_detected!("avx512f")
        );
        // bf16 dot products come only with AVX-512.
        assert!(!features.avx512_bf16 || features.avx512f);
        assert_eq!(features, CpuFeatures::detect());
    }

    /// The CPUID bits we decode by hand against the kernel's own decoding of them.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn hand_decoded_bits_agree_with_the_kernels_flags() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let flags: Vec<&str> = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .unwrap()
            .split_whitespace()
            .collect();
        let features = CpuFeatures::detect();
        assert_eq!(features.avx512_bf16, flags.contains(&"avx512_bf16"));
        if flags.contains(&"amx_bf16") && flags.contains(&"amx_tile") {
            assert!(features.amx_bf16);
        }
    }
}
