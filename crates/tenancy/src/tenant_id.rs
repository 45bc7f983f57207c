//! Tenant ids: short slugs that name a tenant everywhere it needs a name.
//!
//! One id serves as a subdomain label, a file name and, behind a prefix, a database or
//! schema name, so the rule is the intersection of what all of those accept:
//! `^[a-z][a-z0-9-]{0,62}$`, not ending in `-`, without `--` in third and fourth place,
//! and not one of [`RESERVED_TENANT_IDS`].

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

/// The longest tenant id, in characters: the longest DNS label.
pub const MAX_TENANT_ID_LEN: usize = 63;

/// The words a tenant id can never be.
///
/// Each would collide with something the platform or its surroundings already use:
/// - subdomains for the platform itself: `www`, `api`, `app`, `admin`, `central`,
///   `dashboard`, `console`, `static`, `assets`, `cdn`, `docs`, `status`, ...;
/// - subdomains that mail clients, browsers and DNS look up by convention: `mail`, `smtp`,
///   `imap`, `pop3`, `mx`, `ns1`, `autoconfig`, `autodiscover`, `mta-sts`, `wpad`, ...;
/// - sign-in and account pages: `auth`, `login`, `logout`, `signup`, `sso`, `oauth`,
///   `account`, `billing`, ...;
/// - health and metrics endpoints: `health`, `healthz`, `readyz`, `metrics`;
/// - database system names, in their hyphen form since ids cannot contain `_`:
///   `postgres`, `template0`, `template1`, `mysql`, `information-schema`,
///   `performance-schema`, `sys`, `pg-catalog`, `pg-toast`;
/// - words that read as a missing or placeholder value: `default`, `null`, `test`, ...
///
/// The list is sorted (a test checks this) so lookups can binary-search it.
pub const RESERVED_TENANT_IDS: &[&str] = &[
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "autoconfig",
    "autodiscover",
    "billing",
    "blog",
    "cdn",
    "central",
    "console",
    "dashboard",
    "default",
    "dev",
    "dns",
    "docs",
    "email",
    "ftp",
    "health",
    "healthz",
    "help",
    "imap",
    "information-schema",
    "internal",
    "localhost",
    "login",
    "logout",
    "mail",
    "metrics",
    "mta-sts",
    "mx",
    "mysql",
    "none",
    "ns",
    "ns1",
    "ns2",
    "null",
    "oauth",
    "performance-schema",
    "pg-catalog",
    "pg-toast",
    "pop",
    "pop3",
    "postgres",
    "public",
    "readyz",
    "root",
    "security",
    "settings",
    "signin",
    "signup",
    "smtp",
    "sso",
    "staging",
    "static",
    "status",
    "support",
    "sys",
    "system",
    "template0",
    "template1",
    "tenancy",
    "test",
    "undefined",
    "webmail",
    "www",
];

/// A validated tenant id: a slug that is safe as a subdomain label, a file name and
/// (with a prefix) a database or schema name.
///
/// Build one with [`TenantId::parse`] (or `str::parse`, `TryFrom`, or deserialisation,
/// which all validate). Cloning is cheap: the text is shared. Serialises as the plain
/// string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct TenantId(Arc<str>);

/// Why a string is not a valid tenant id.
///
/// Rules are checked in a fixed order and the first that fails is reported, so a message
/// names one problem at a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTenantId {
    /// The string is empty.
    #[error("tenant id is empty")]
    Empty,
    /// The string is longer than [`MAX_TENANT_ID_LEN`] characters.
    #[error("tenant id is {len} characters long; the limit is 63")]
    TooLong {
        /// Length in characters.
        len: usize,
    },
    /// The first character is not `a` to `z`.
    #[error("tenant id must start with a lowercase letter a-z")]
    FirstCharNotLetter,
    /// A character other than `a`-`z`, `0`-`9` or `-`; upper case is refused rather than
    /// lowered, so that an id is never silently changed.
    #[error("tenant id may only contain a-z, 0-9 and '-'; found {ch:?} at position {position}")]
    InvalidCharacter {
        /// The first offending character.
        ch: char,
        /// Its position in characters, counting the first as 1.
        position: usize,
    },
    /// The last character is `-`.
    #[error("tenant id must not end with '-'")]
    TrailingHyphen,
    /// The third and fourth characters are `--`, as in punycode's `xn--`.
    #[error("tenant id must not have '--' at positions 3-4, which dns reserves for encoded names")]
    PunycodePrefix,
    /// The id is one of [`RESERVED_TENANT_IDS`].
    #[error("'{id}' is a reserved word and cannot be a tenant id")]
    Reserved {
        /// The reserved word.
        id: String,
    },
}

impl TenantId {
    /// Validates `raw` as a tenant id.
    ///
    /// The input is taken as is: it is neither trimmed nor lower-cased, because an id
    /// that changed on the way in would no longer match what the caller stored.
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        validate(raw)?;
        Ok(Self(Arc::from(raw)))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(raw: &str) -> Result<(), InvalidTenantId> {
    check_length(raw)?;
    check_characters(raw)?;
    check_hyphens(raw)?;
    check_not_reserved(raw)
}

fn check_length(raw: &str) -> Result<(), InvalidTenantId> {
    match raw.chars().count() {
        0 => Err(InvalidTenantId::Empty),
        len if len > MAX_TENANT_ID_LEN => Err(InvalidTenantId::TooLong { len }),
        _ => Ok(()),
    }
}

fn check_characters(raw: &str) -> Result<(), InvalidTenantId> {
    if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(InvalidTenantId::FirstCharNotLetter);
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    match raw.chars().zip(1..).find(|&(c, _)| !allowed(c)) {
        Some((ch, position)) => Err(InvalidTenantId::InvalidCharacter { ch, position }),
        None => Ok(()),
    }
}

/// Labels with `--` in third and fourth place are reserved for encodings such as `xn--`;
/// a tenant called `xn--80ak6aa` would be shown by browsers as a different, Unicode name.
fn check_hyphens(raw: &str) -> Result<(), InvalidTenantId> {
    if raw.ends_with('-') {
        return Err(InvalidTenantId::TrailingHyphen);
    }
    if raw.get(2..4) == Some("--") {
        return Err(InvalidTenantId::PunycodePrefix);
    }
    Ok(())
}

fn check_not_reserved(raw: &str) -> Result<(), InvalidTenantId> {
    if RESERVED_TENANT_IDS.binary_search(&raw).is_ok() {
        return Err(InvalidTenantId::Reserved { id: raw.to_owned() });
    }
    Ok(())
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl TryFrom<&str> for TenantId {
    type Error = InvalidTenantId;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by `TenantId` be queried with a `&str`; sound because `Arc<str>`
/// hashes and compares exactly as `str` does.
impl Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Written by hand because serde implements `Serialize` for `Arc` only behind its `rc`
/// feature, and the plain string is the wanted form anyway.
impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvalidTenantId::*;
    use proptest::prelude::*;

    fn bad_char(ch: char, position: usize) -> InvalidTenantId {
        InvalidCharacter { ch, position }
    }

    fn reserved(id: &str) -> InvalidTenantId {
        Reserved { id: id.to_owned() }
    }

    #[test]
    fn good_ids_parse_unchanged() {
        let max = format!("a{}", "0".repeat(62));
        let good = [
            "a",
            "acme",
            "acme-corp",
            "a1",
            "z9-9z",
            "ab-c",
            "abc--d",
            "a-b-c",
            "wwww",
            "apis",
            "xn-a",
            "www2",
            &max,
        ];
        for raw in good {
            assert_eq!(
                TenantId::parse(raw).map(|id| id.to_string()),
                Ok(raw.to_owned())
            );
        }
    }

    #[test]
    fn bad_ids_fail_with_the_first_broken_rule() {
        let too_long = "a".repeat(64);
        let cases = [
            ("", Empty),
            (&too_long, TooLong { len: 64 }),
            (&"é".repeat(64), TooLong { len: 64 }),
            ("1acme", FirstCharNotLetter),
            ("-acme", FirstCharNotLetter),
            ("Acme", FirstCharNotLetter),
            (" acme", FirstCharNotLetter),
            ("éacme", FirstCharNotLetter),
            ("aCme", bad_char('C', 2)),
            ("acme_corp", bad_char('_', 5)),
            ("acme.corp", bad_char('.', 5)),
            ("acme corp", bad_char(' ', 5)),
            ("acme/..", bad_char('/', 5)),
            ("acmé", bad_char('é', 4)),
            ("acme\n", bad_char('\n', 5)),
            ("acme-", TrailingHyphen),
            ("ab--", TrailingHyphen),
            ("xn--bcher-kva", PunycodePrefix),
            ("ab--c", PunycodePrefix),
            ("www", reserved("www")),
            ("admin", reserved("admin")),
            ("pg-catalog", reserved("pg-catalog")),
            ("template1", reserved("template1")),
        ];
        for (raw, expected) in cases {
            assert_eq!(TenantId::parse(raw), Err(expected), "input {raw:?}");
        }
    }

    #[test]
    fn reserved_list_is_sorted_without_duplicates() {
        for pair in RESERVED_TENANT_IDS.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{:?} must come before {:?}",
                pair[1],
                pair[0]
            );
        }
    }

    #[test]
    fn reserved_words_would_otherwise_be_valid_ids() {
        for word in RESERVED_TENANT_IDS {
            assert_eq!(check_length(word), Ok(()), "{word}");
            assert_eq!(check_characters(word), Ok(()), "{word}");
            assert_eq!(check_hyphens(word), Ok(()), "{word}");
            assert_eq!(TenantId::parse(word), Err(reserved(word)));
        }
    }

    #[test]
    fn error_messages_are_lowercase_without_trailing_period() {
        let errors = [
            Empty,
            TooLong { len: 64 },
            FirstCharNotLetter,
            bad_char('_', 3),
            TrailingHyphen,
            PunycodePrefix,
            reserved("www"),
        ];
        for error in errors {
            let message = error.to_string();
            assert_eq!(message, message.to_lowercase(), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    #[test]
    fn invalid_character_message_names_character_and_position() {
        let message = TenantId::parse("acme_corp").unwrap_err().to_string();
        let expected = "tenant id may only contain a-z, 0-9 and '-'; found '_' at position 5";
        assert_eq!(message, expected);
    }

    #[test]
    fn serializes_as_plain_string() {
        let id = TenantId::parse("acme").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
    }

    #[test]
    fn deserializing_validates() {
        let id: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(id.as_str(), "acme");
        let error = serde_json::from_str::<TenantId>("\"www\"").unwrap_err();
        assert!(error.to_string().contains("reserved"), "{error}");
        assert!(serde_json::from_str::<TenantId>("\"Acme\"").is_err());
    }

    #[test]
    fn maps_keyed_by_id_can_be_queried_with_str() {
        let map = std::collections::HashMap::from([(TenantId::parse("acme").unwrap(), 1)]);
        assert_eq!(map.get("acme"), Some(&1));
    }

    fn has_punycode_prefix(raw: &str) -> bool {
        raw.get(2..4) == Some("--")
    }

    proptest! {
        #[test]
        fn slug_shaped_strings_parse_or_fail_only_on_late_rules(
            raw in "[a-z][a-z0-9-]{0,62}",
        ) {
            match TenantId::parse(&raw) {
                Ok(id) => prop_assert_eq!(id.as_str(), raw.as_str()),
                Err(TrailingHyphen) => prop_assert!(raw.ends_with('-')),
                Err(PunycodePrefix) => prop_assert!(has_punycode_prefix(&raw)),
                Err(Reserved { id }) => prop_assert_eq!(id, raw),
                Err(other) => {
                    return Err(TestCaseError::fail(format!("{raw:?} failed with {other:?}")));
                }
            }
        }

        #[test]
        fn slug_shaped_strings_parse_exactly_when_no_late_rule_applies(
            raw in "[a-z][a-z0-9-]{0,62}",
        ) {
            let should_parse = !raw.ends_with('-')
                && !has_punycode_prefix(&raw)
                && !RESERVED_TENANT_IDS.contains(&raw.as_str());
            prop_assert_eq!(TenantId::parse(&raw).is_ok(), should_parse);
        }

        #[test]
        fn arbitrary_strings_never_panic(raw in any::<String>()) {
            let _ = TenantId::parse(&raw);
        }

        #[test]
        fn accepted_ids_round_trip_through_display_and_serde(raw in "[a-z][a-z0-9-]{0,62}") {
            if let Ok(id) = raw.parse::<TenantId>() {
                prop_assert_eq!(id.to_string().parse::<TenantId>(), Ok(id.clone()));
                let json = serde_json::to_string(&id).unwrap();
                prop_assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);
            }
        }
    }
}
