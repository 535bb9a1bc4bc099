//! What a PKCS#11 keystore needs: the module, the token, the user PIN.

use super::Pkcs11Error;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A token's user PIN. Its `Debug` prints `[redacted]`, it has no `Display`,
/// and its bytes are zeroed on drop.
pub struct Pkcs11Pin(Zeroizing<String>);

impl fmt::Debug for Pkcs11Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pkcs11Pin([redacted])")
    }
}

impl Pkcs11Pin {
    /// A PIN given as a string (empty PINs are refused).
    pub fn new(pin: String) -> Result<Self, Pkcs11Error> {
        let pin = Zeroizing::new(pin);
        if pin.is_empty() {
            return Err(Pkcs11Error::PinSource("the PIN is empty".into()));
        }
        Ok(Self(pin))
    }

    /// Read the PIN from a file: its whole content, less one trailing newline.
    pub fn from_file(path: &Path) -> Result<Self, Pkcs11Error> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| Pkcs11Error::PinSource(format!("cannot read the PIN file `{}`: {e}", path.display())))?,
        );
        let pin = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text.as_str());
        if pin.is_empty() {
            return Err(Pkcs11Error::PinSource(format!("the PIN file `{}` is empty", path.display())));
        }
        Ok(Self(Zeroizing::new(pin.to_string())))
    }

    /// Read the PIN from the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, Pkcs11Error> {
        let value = Zeroizing::new(
            std::env::var(var).map_err(|_| Pkcs11Error::PinSource(format!("the environment variable `{var}` is not set or not UTF-8")))?,
        );
        if value.is_empty() {
            return Err(Pkcs11Error::PinSource(format!("the environment variable `{var}` is empty")));
        }
        Ok(Self(Zeroizing::new(value.to_string())))
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

/// Which token of the module holds the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token with this label (CKA token info label, trailing blanks ignored).
    Label(String),
    /// The token in this slot id.
    Slot(u64),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSelector::Label(l) => f.write_str(l),
            TokenSelector::Slot(s) => write!(f, "slot {s}"),
        }
    }
}

/// How to reach the keys: the PKCS#11 module (a shared library), the token,
/// and the user PIN.
#[derive(Debug)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub token: TokenSelector,
    pub pin: Pkcs11Pin,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_pin_never_shows() {
        let pin = Pkcs11Pin::new("123456".into()).unwrap();
        let config = Pkcs11Config { module: "/m.so".into(), token: TokenSelector::Label("t".into()), pin };
        let shown = format!("{config:?}");
        assert!(!shown.contains("123456"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn pin_files_lose_one_newline_and_empty_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        std::fs::write(&p, "12 34\r\n").unwrap();
        assert_eq!(Pkcs11Pin::from_file(&p).unwrap().expose(), "12 34");
        std::fs::write(&p, "\n").unwrap();
        let err = Pkcs11Pin::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("is empty") && err.contains("pin`"), "{err}");
        let err = Pkcs11Pin::from_file(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(err.contains("cannot read the PIN file"), "{err}");
        assert!(Pkcs11Pin::new(String::new()).is_err());
        let err = Pkcs11Pin::from_env("SIGNET_TEST_SURELY_UNSET_PIN_VAR").unwrap_err().to_string();
        assert!(err.contains("`SIGNET_TEST_SURELY_UNSET_PIN_VAR` is not set"), "{err}");
    }
}
