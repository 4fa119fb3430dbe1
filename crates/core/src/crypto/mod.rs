//! Cryptography of the gateway, each piece in its own module.

pub mod cipher;
pub mod codes;
pub mod digest;
pub mod jwt;
pub mod legacy;
pub mod password;
pub mod qr;
pub mod totp;
