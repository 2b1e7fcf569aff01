//! Secret newtypes. None of them prints its value: `Debug` and `Display`
//! show `Name([redacted])`, the value is reachable only through `expose()`,
//! and the memory is wiped on drop.
//!
//! # Security warning
//! Whatever you do with `expose()` — put it in a header, a keychain entry —
//! must not reach a log line, an error message, the webview or a panic.

use std::fmt;

use zeroize::Zeroize;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value.
            ///
            /// # Security warning
            /// Never log, display or return this to the webview.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }
    };
}

secret!(
    /// Clerk's long-lived client credential (the native `Authorization`
    /// value). The only secret Latchkey persists (in the OS keychain).
    ClientCredential
);
secret!(
    /// A 60-second session JWT. Lives in memory only.
    SessionToken
);
secret!(
    /// A PKCE code verifier (RFC 7636). One per attempt.
    PkceVerifier
);
secret!(
    /// A sign-in token ("ticket") from a web-to-desktop handoff.
    SignInTicket
);
secret!(
    /// A `rotating_token_nonce` from a callback.
    RotatingNonce
);
