//! Normalisation of request hosts.
//!
//! Tenant identification compares hosts as strings, so every spelling of one host must
//! reach it as the same string: `Acme.Example.COM.:8443`, `acme.example.com` and
//! `acme.example.com:80` all name one tenant. [`normalize_host`] produces that canonical
//! form and refuses anything that is not a plausible host, so that odd input fails loudly
//! here instead of silently matching nothing (or the wrong thing) later.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// The longest host name DNS can carry, in bytes, not counting a trailing root dot.
pub const MAX_HOST_LEN: usize = 253;

/// The longest DNS label, in bytes.
pub const MAX_LABEL_LEN: usize = 63;

/// Raw input longer than this is refused before IDNA runs, so that a huge header cannot
/// buy much CPU. It is well above [`MAX_HOST_LEN`] because IDNA mapping can shrink input
/// (ignorable code points such as the soft hyphen vanish).
const MAX_RAW_LEN: usize = 1024;

/// Why a host could not be normalised.
///
/// Each variant names the first rule the host broke. Values taken from the input are
/// shown with Rust's debug escaping, so a message is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidHost {
    /// The host is empty, blank, or only a port.
    #[error("host is empty")]
    Empty,
    /// The host is longer than DNS allows.
    #[error("host is {len} bytes long; the limit is 253")]
    TooLong {
        /// Length in bytes of the offending form (raw input, or the ASCII form).
        len: usize,
    },
    /// The raw bytes are not UTF-8.
    #[error("host is not valid utf-8")]
    InvalidUtf8,
    /// The host contains a character no host name may contain.
    #[error("host contains invalid character {ch:?}")]
    InvalidCharacter {
        /// The first offending character.
        ch: char,
    },
    /// The part after the last `:` is not a port number.
    #[error("invalid port {port:?}: expected 1 to 5 digits no greater than 65535")]
    InvalidPort {
        /// The text that stood where the port should be.
        port: String,
    },
    /// A bracketed literal is not an IPv6 address, or text follows it that is not a port.
    #[error("invalid ipv6 literal: expected [address] or [address]:port")]
    InvalidIpv6,
    /// An IPv6 address without brackets, whose colons are ambiguous with a port.
    #[error("ipv6 address must be enclosed in brackets")]
    UnbracketedIpv6,
    /// The last label is numeric, but the whole is not a dotted-quad IPv4 address.
    #[error("host ends in a numeric label but is not a dotted-quad ipv4 address")]
    NumericTopLabel,
    /// Two dots in a row, a leading dot, or more than one trailing dot.
    #[error("host has an empty label")]
    EmptyLabel,
    /// A label of the ASCII form is longer than DNS allows.
    #[error("host label is {len} bytes long; the limit is 63")]
    LabelTooLong {
        /// Length in bytes of the offending label.
        len: usize,
    },
    /// A label starts or ends with `-`.
    #[error("host label starts or ends with '-'")]
    HyphenAtLabelEdge,
    /// IDNA processing refused the host (a disallowed code point, bad punycode, ...).
    #[error("host is not a valid internationalised domain name")]
    Idna,
}

/// Normalises raw Host header bytes, for callers that have not checked for UTF-8.
///
/// Header values may carry bytes outside ASCII, which `HeaderValue::to_str` refuses;
/// this accepts them when they are UTF-8 and otherwise behaves as [`normalize_host`].
pub fn normalize_host_bytes(raw: &[u8]) -> Result<String, InvalidHost> {
    let raw = std::str::from_utf8(raw).map_err(|_| InvalidHost::InvalidUtf8)?;
    normalize_host(raw)
}

/// Normalises the raw value of an HTTP Host header (or URI authority) to the form
/// identification compares.
///
/// The result is one of:
/// - a lower-case ASCII domain name (IDN labels punycoded as `xn--…`), without port and
///   without trailing dot, at most 253 bytes with labels of 1 to 63 bytes of
///   `[a-z0-9-]` that neither start nor end with `-`;
/// - a dotted-quad IPv4 address such as `127.0.0.1`;
/// - a bracketed IPv6 address in canonical form such as `[::1]`.
///
/// Surrounding ASCII whitespace is trimmed; whitespace or control characters inside are
/// an error. Normalising a result again returns it unchanged.
pub fn normalize_host(raw: &str) -> Result<String, InvalidHost> {
    let raw = raw.trim_ascii();
    check_raw(raw)?;
    if let Some(rest) = raw.strip_prefix('[') {
        return normalize_bracketed(rest);
    }
    reject_unbracketed_ipv6(raw)?;
    normalize_name(strip_port(raw)?)
}

fn check_raw(raw: &str) -> Result<(), InvalidHost> {
    if raw.is_empty() {
        return Err(InvalidHost::Empty);
    }
    if raw.len() > MAX_RAW_LEN {
        return Err(InvalidHost::TooLong { len: raw.len() });
    }
    match raw.chars().find(|c| c.is_control() || c.is_whitespace()) {
        Some(ch) => Err(InvalidHost::InvalidCharacter { ch }),
        None => Ok(()),
    }
}

/// Normalises what follows the `[` of an IPv6 literal.
fn normalize_bracketed(rest: &str) -> Result<String, InvalidHost> {
    let (literal, after) = rest.split_once(']').ok_or(InvalidHost::InvalidIpv6)?;
    let addr: Ipv6Addr = literal.parse().map_err(|_| InvalidHost::InvalidIpv6)?;
    if !after.is_empty() {
        let port = after.strip_prefix(':').ok_or(InvalidHost::InvalidIpv6)?;
        check_port(port)?;
    }
    Ok(format!("[{addr}]"))
}

/// Names the likely mistake, which would otherwise surface as a puzzling port or
/// character error.
fn reject_unbracketed_ipv6(raw: &str) -> Result<(), InvalidHost> {
    let before_port = raw.rsplit_once(':').map_or(raw, |(host, _)| host);
    let is_ipv6 = |s: &str| s.parse::<Ipv6Addr>().is_ok();
    if is_ipv6(raw) || is_ipv6(before_port) {
        return Err(InvalidHost::UnbracketedIpv6);
    }
    Ok(())
}

fn strip_port(raw: &str) -> Result<&str, InvalidHost> {
    match raw.rsplit_once(':') {
        Some((name, port)) => check_port(port).map(|()| name),
        None => Ok(raw),
    }
}

/// RFC 3986 allows an empty port (`host:`), which means the scheme's default.
fn check_port(port: &str) -> Result<(), InvalidHost> {
    // The digit check matters: `u16::from_str` would accept a leading `+`.
    let is_digits = port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    if port.is_empty() || (is_digits && port.parse::<u16>().is_ok()) {
        return Ok(());
    }
    Err(InvalidHost::InvalidPort {
        port: port.to_owned(),
    })
}

/// Normalises a domain name or IPv4 address, port already removed.
fn normalize_name(name: &str) -> Result<String, InvalidHost> {
    if name.is_empty() {
        return Err(InvalidHost::Empty);
    }
    check_ascii_characters(name)?;
    let ascii = to_ascii(name)?;
    // Stripped only after IDNA, which maps `。` and friends to `.`; otherwise `a.b。`
    // would fail where `a.b.` succeeds.
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    check_dns_name(ascii)?;
    canonical_top(ascii)
}

/// Reports a bad ASCII character precisely instead of as an opaque IDNA failure.
/// Characters outside ASCII are left to IDNA, which knows which ones are letters.
fn check_ascii_characters(name: &str) -> Result<(), InvalidHost> {
    let allowed = |c: char| !c.is_ascii() || c.is_ascii_alphanumeric() || c == '-' || c == '.';
    match name.chars().find(|&c| !allowed(c)) {
        Some(ch) => Err(InvalidHost::InvalidCharacter { ch }),
        None => Ok(()),
    }
}

/// Lower-cases and punycodes the name. STD3 rules make IDNA refuse code points that map
/// to characters a host may not contain (fullwidth `／`, for one). Hyphen placement and
/// lengths are checked afterwards by [`check_dns_name`], which names the problem.
fn to_ascii(name: &str) -> Result<String, InvalidHost> {
    Uts46::new()
        .to_ascii(
            name.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .map(Cow::into_owned)
        .map_err(|_| InvalidHost::Idna)
}

fn check_dns_name(ascii: &str) -> Result<(), InvalidHost> {
    if ascii.len() > MAX_HOST_LEN {
        return Err(InvalidHost::TooLong { len: ascii.len() });
    }
    ascii.split('.').try_for_each(check_label)
}

fn check_label(label: &str) -> Result<(), InvalidHost> {
    if label.is_empty() {
        return Err(InvalidHost::EmptyLabel);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(InvalidHost::LabelTooLong { len: label.len() });
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if let Some(ch) = label.chars().find(|&c| !allowed(c)) {
        return Err(InvalidHost::InvalidCharacter { ch });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(InvalidHost::HyphenAtLabelEdge);
    }
    Ok(())
}

/// Browsers read a host whose last label is a number (`127.1`, `0x7f.1`) as an IPv4
/// address, while a string comparison would treat it as a name; only the one canonical
/// dotted-quad spelling is let through so both readings agree.
fn canonical_top(ascii: &str) -> Result<String, InvalidHost> {
    let top = ascii.rsplit('.').next().unwrap_or(ascii);
    if !looks_numeric(top) {
        return Ok(ascii.to_owned());
    }
    match ascii.parse::<Ipv4Addr>() {
        Ok(addr) => Ok(addr.to_string()),
        Err(_) => Err(InvalidHost::NumericTopLabel),
    }
}

/// Matches the WHATWG URL notion of a numeric label: decimal, or hex after `0x`.
fn looks_numeric(label: &str) -> bool {
    match label.strip_prefix("0x") {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => label.bytes().all(|b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvalidHost::*;
    use proptest::prelude::*;

    fn bad_char(ch: char) -> Result<&'static str, InvalidHost> {
        Err(InvalidCharacter { ch })
    }

    fn bad_port(port: &str) -> Result<&'static str, InvalidHost> {
        Err(InvalidPort {
            port: port.to_owned(),
        })
    }

    #[test]
    fn table_of_hosts_normalises_as_expected() {
        let long_label = "a".repeat(64);
        let max_label = "a".repeat(63);
        let host_254 = format!("{max_label}.{max_label}.{max_label}.{}", "b".repeat(62));
        let host_253 = &host_254[1..];
        let cases: Vec<(&str, Result<&str, InvalidHost>)> = vec![
            // case, port, trailing dot
            ("ACME.Example.COM", Ok("acme.example.com")),
            ("acme.example.com:8080", Ok("acme.example.com")),
            ("acme.example.com:", Ok("acme.example.com")),
            ("acme.example.com.", Ok("acme.example.com")),
            ("Acme.Example.com.:443", Ok("acme.example.com")),
            ("acme.example.com..", Err(EmptyLabel)),
            (".acme.example.com", Err(EmptyLabel)),
            ("acme..example.com", Err(EmptyLabel)),
            (".", Err(EmptyLabel)),
            ("  acme.example.com\t", Ok("acme.example.com")),
            ("localhost", Ok("localhost")),
            ("localhost:3000", Ok("localhost")),
            // IP addresses
            ("127.0.0.1", Ok("127.0.0.1")),
            ("127.0.0.1:8080", Ok("127.0.0.1")),
            ("127.0.0.1.", Ok("127.0.0.1")),
            ("１２７.０.０.１", Ok("127.0.0.1")),
            ("127.1", Err(NumericTopLabel)),
            ("0x7f.0.0.1", Err(NumericTopLabel)),
            ("127.000.0.1", Err(NumericTopLabel)),
            ("256.0.0.1", Err(NumericTopLabel)),
            ("example.0x1f", Err(NumericTopLabel)),
            ("123", Err(NumericTopLabel)),
            ("123.example", Ok("123.example")),
            ("[::1]", Ok("[::1]")),
            ("[::1]:8080", Ok("[::1]")),
            ("[::1]:", Ok("[::1]")),
            ("[0:0:0:0:0:0:0:1]", Ok("[::1]")),
            ("[2001:DB8:0::1]:443", Ok("[2001:db8::1]")),
            ("[::1", Err(InvalidIpv6)),
            ("[::1]x", Err(InvalidIpv6)),
            ("[not-ipv6]", Err(InvalidIpv6)),
            ("[fe80::1%eth0]", Err(InvalidIpv6)),
            ("[::1]:99999", bad_port("99999")),
            ("::1", Err(UnbracketedIpv6)),
            ("::1:8080", Err(UnbracketedIpv6)),
            ("2001:db8::1", Err(UnbracketedIpv6)),
            // IDN
            ("Bücher.example", Ok("xn--bcher-kva.example")),
            ("BÜCHER.EXAMPLE", Ok("xn--bcher-kva.example")),
            ("xn--bcher-kva.example", Ok("xn--bcher-kva.example")),
            ("XN--BCHER-KVA.example", Ok("xn--bcher-kva.example")),
            ("münchen.de:443", Ok("xn--mnchen-3ya.de")),
            ("ＡＣＭＥ.example", Ok("acme.example")),
            ("acme.example。", Ok("acme.example")),
            ("xn--a.example", Err(Idna)),
            ("a／b.example", Err(Idna)),
            // empty and garbage
            ("", Err(Empty)),
            ("   ", Err(Empty)),
            (":8080", Err(Empty)),
            ("acme\0.example", bad_char('\0')),
            ("acme\x07.example", bad_char('\x07')),
            ("acme\u{85}.example", bad_char('\u{85}')),
            ("ac me.example", bad_char(' ')),
            ("acme\u{a0}.example", bad_char('\u{a0}')),
            ("acme/x.example", bad_char('/')),
            ("user@acme.example", bad_char('@')),
            ("acme_x.example", bad_char('_')),
            ("acme%2e.example", bad_char('%')),
            ("a:b:80", bad_char(':')),
            // lengths
            (host_253, Ok(host_253)),
            (&host_254, Err(TooLong { len: 254 })),
            (&max_label, Ok(&max_label)),
            (&long_label, Err(LabelTooLong { len: 64 })),
            // ports
            ("acme.example:abc", bad_port("abc")),
            ("acme.example:99999", bad_port("99999")),
            ("acme.example:65536", bad_port("65536")),
            ("acme.example:65535", Ok("acme.example")),
            ("acme.example:-1", bad_port("-1")),
            ("acme.example:+80", bad_port("+80")),
            ("acme.example:080808", bad_port("080808")),
            // hyphens
            ("-acme.example", Err(HyphenAtLabelEdge)),
            ("acme-.example", Err(HyphenAtLabelEdge)),
            ("acme.example-", Err(HyphenAtLabelEdge)),
            ("ac-me.ex--ample", Ok("ac-me.ex--ample")),
        ];
        for (raw, expected) in cases {
            let expected = expected.map(str::to_owned);
            assert_eq!(normalize_host(raw), expected, "input {raw:?}");
        }
    }

    #[test]
    fn oversized_raw_input_is_refused_before_idna() {
        let raw = "\u{ad}".repeat(600);
        assert_eq!(normalize_host(&raw), Err(TooLong { len: 1200 }));
    }

    #[test]
    fn invalid_utf8_bytes_are_refused() {
        assert_eq!(normalize_host_bytes(b"acme\xff.example"), Err(InvalidUtf8));
    }

    #[test]
    fn utf8_bytes_are_normalised_like_str() {
        let host = normalize_host_bytes("Bücher.example:80".as_bytes());
        assert_eq!(host.as_deref(), Ok("xn--bcher-kva.example"));
    }

    #[test]
    fn error_messages_are_lowercase_without_trailing_period() {
        let errors = [
            Empty,
            TooLong { len: 300 },
            InvalidUtf8,
            InvalidCharacter { ch: '\0' },
            InvalidPort { port: "x".into() },
            InvalidIpv6,
            UnbracketedIpv6,
            NumericTopLabel,
            EmptyLabel,
            LabelTooLong { len: 64 },
            HyphenAtLabelEdge,
            Idna,
        ];
        for error in errors {
            let message = error.to_string();
            assert_eq!(message, message.to_lowercase(), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9]{1,12}",
            "[a-z0-9][a-z0-9-]{0,10}[a-z0-9]",
            "[a-zA-ZäöüÄÖÜßéÉçñ]{1,10}",
            "\\p{L}{1,6}",
            "xn--[a-z0-9-]{1,12}",
            "[0-9]{1,4}",
            "-?[a-z]{0,3}-?",
        ]
    }

    fn plausible_host() -> impl Strategy<Value = String> {
        let name = (prop::collection::vec(label(), 1..5), "\\.{0,2}")
            .prop_map(|(labels, dots)| labels.join(".") + &dots);
        let ipv4 = any::<Ipv4Addr>().prop_map(|a| a.to_string());
        let ipv6 = any::<Ipv6Addr>().prop_map(|a| format!("[{a}]"));
        let host = prop_oneof![4 => name, 1 => ipv4, 1 => ipv6];
        (host, "(:[0-9]{0,6})?").prop_map(|(host, port)| host + &port)
    }

    fn assert_idempotent(raw: &str) -> Result<(), TestCaseError> {
        if let Ok(once) = normalize_host(raw) {
            prop_assert_eq!(normalize_host(&once), Ok(once.clone()), "input {:?}", raw);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn normalising_arbitrary_strings_is_idempotent(raw in any::<String>()) {
            assert_idempotent(&raw)?;
        }

        #[test]
        fn normalising_host_like_strings_is_idempotent(raw in "[a-zA-Z0-9.:\\[\\]-]{0,40}") {
            assert_idempotent(&raw)?;
        }

        #[test]
        fn normalising_plausible_hosts_is_idempotent(raw in plausible_host()) {
            assert_idempotent(&raw)?;
        }

        #[test]
        fn normalised_names_are_lowercase_ascii_without_trailing_dot(raw in plausible_host()) {
            if let Ok(host) = normalize_host(&raw) {
                prop_assert!(host.len() <= MAX_HOST_LEN + 2);
                prop_assert!(!host.ends_with('.'));
                prop_assert!(host.is_ascii());
                prop_assert_eq!(host.to_ascii_lowercase(), host);
            }
        }

        #[test]
        fn bytes_and_str_entry_points_agree(raw in any::<String>()) {
            prop_assert_eq!(normalize_host_bytes(raw.as_bytes()), normalize_host(&raw));
        }

        #[test]
        fn plain_ascii_names_survive_with_case_and_port_removed(
            labels in prop::collection::vec("[a-z][a-z0-9]{0,10}", 1..4),
            upper in any::<bool>(),
            port in any::<u16>(),
        ) {
            let name = labels.join(".");
            let raw = if upper { name.to_ascii_uppercase() } else { name.clone() };
            prop_assert_eq!(normalize_host(&format!("{raw}:{port}")), Ok(name));
        }
    }
}
