//! `[SIGNATURE]`: the MD5 of the file text before the section.
//!
//! pypulseq and MATLAB Pulseq hash the whole file as written, then append
//! `"\n[SIGNATURE]\n…Type md5\nHash <hex>\n"`; the newline before
//! `[SIGNATURE]` belongs to the signature, so the hashed text is everything
//! before that newline.

use md5::{Digest, Md5};

use super::error::PulseqWarning;
use super::parse::SignatureFields;

/// Outcome of checking a file's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The file has no `[SIGNATURE]` section.
    Absent,
    /// The stored MD5 matches the text.
    Verified {
        /// The hash, lower-case hex.
        md5: String,
    },
    /// The stored MD5 does not match (a warning is raised too).
    Mismatch {
        /// Hash in the file.
        stored: String,
        /// Hash of the text.
        computed: String,
    },
    /// A signature that is not md5, or has no `Hash`, was not checked.
    Unchecked {
        /// The `Type` field.
        kind: String,
    },
}

/// MD5 of `bytes`, lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The part of `text` the signature covers, or `None` without a `[SIGNATURE]` line.
pub fn signed_text(text: &str) -> Option<&str> {
    if text.starts_with("[SIGNATURE]") {
        return Some("");
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "[SIGNATURE]" && offset > 0 {
            return Some(&text[..offset - 1]);
        }
        offset += line.len();
    }
    None
}

/// Check the signature fields read from `text`; a mismatch also adds a warning naming `file`.
pub(crate) fn verify(text: &str, fields: &SignatureFields, file: &str, warnings: &mut Vec<PulseqWarning>) -> SignatureStatus {
    let Some(signed) = signed_text(text) else { return SignatureStatus::Absent };
    let kind = fields.kind.clone().unwrap_or_default();
    let (true, Some(stored)) = (kind.eq_ignore_ascii_case("md5"), fields.hash.as_ref()) else {
        let kind = if kind.is_empty() { "(none)".to_string() } else { kind };
        warnings.push(PulseqWarning::UncheckedSignature { file: file.into(), kind: kind.clone() });
        return SignatureStatus::Unchecked { kind };
    };
    let computed = md5_hex(signed.as_bytes());
    if computed.eq_ignore_ascii_case(stored) {
        SignatureStatus::Verified { md5: computed }
    } else {
        warnings.push(PulseqWarning::SignatureMismatch { file: file.into(), stored: stored.clone(), computed: computed.clone() });
        SignatureStatus::Mismatch { stored: stored.clone(), computed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_split() {
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(signed_text("a\nb\n\n[SIGNATURE]\nHash x\n"), Some("a\nb\n"));
        assert_eq!(signed_text("a\nb\n"), None);
    }
}
