//! Unit tests: key material, encodings, tenant ids, storage URLs, and the usage ledger's pure parts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::encode::{BASE32_UPPER, BASE64_STD, BASE64_URL, encode, hex};
use crate::open::Target;
use crate::usage::{chunk_len, civil_from_days, day_name};
use crate::{Dimension, StoreError, UsageQuery, hash_key, mint_key, sql, validate_tenant_id};

#[test]
fn sha256_of_abc_is_the_known_vector() {
    assert_eq!(
        hex(&hash_key("abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&hash_key("")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn encodings_match_rfc_4648_vectors() {
    let vectors = [
        ("", "", "", ""),
        ("f", "Zg", "MY", "66"),
        ("fo", "Zm8", "MZXQ", "666f"),
        ("foo", "Zm9v", "MZXW6", "666f6f"),
        ("foob", "Zm9vYg", "MZXW6YQ", "666f6f62"),
        ("fooba", "Zm9vYmE", "MZXW6YTB", "666f6f6261"),
        ("foobar", "Zm9vYmFy", "MZXW6YTBOI", "666f6f626172"),
    ];
    for (input, b64, b32, hx) in vectors {
        assert_eq!(
            encode(input.as_bytes(), BASE64_STD),
            b64,
            "base64 {input:?}"
        );
        assert_eq!(
            encode(input.as_bytes(), BASE32_UPPER),
            b32,
            "base32 {input:?}"
        );
        assert_eq!(hex(input.as_bytes()), hx, "hex {input:?}");
    }
    assert_eq!(encode(&[0xfb, 0xff], BASE64_URL), "-_8");
    assert_eq!(encode(&[0xfb, 0xff], BASE64_STD), "+/8");
}

#[test]
fn minted_keys_have_the_documented_shape() {
    let key = mint_key(false);
    let id = key.id.strip_prefix("key_").unwrap();
    assert_eq!(id.len(), 26);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
    );

    let body = key.secret.strip_prefix("sk-sy-").unwrap();
    assert_eq!(body.len(), 43);
    assert!(body.bytes().all(|b| BASE64_URL.contains(&b)));
    assert_eq!(key.prefix, key.secret[..10]);
    assert_eq!(key.hash, hash_key(&key.secret));
    assert_eq!(key.aws, None);
}

#[test]
fn minted_aws_pairs_look_like_aws() {
    let key = mint_key(true);
    let (access_key_id, secret_access_key) = key.aws.clone().unwrap();
    assert_eq!(access_key_id.len(), 20);
    let tail = access_key_id.strip_prefix("AKSY").unwrap();
    assert!(
        tail.chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    );
    assert_eq!(secret_access_key.len(), 40);
    assert!(secret_access_key.bytes().all(|b| BASE64_STD.contains(&b)));
    assert_ne!(secret_access_key, key.secret);
}

#[test]
fn minted_keys_are_unique() {
    let keys: Vec<_> = (0..1000).map(|_| mint_key(true)).collect();
    let ids: HashSet<_> = keys.iter().map(|k| k.id.as_str()).collect();
    let secrets: HashSet<_> = keys.iter().map(|k| k.secret.as_str()).collect();
    let access: HashSet<_> = keys
        .iter()
        .map(|k| k.aws.as_ref().unwrap().0.as_str())
        .collect();
    assert_eq!((ids.len(), secrets.len(), access.len()), (1000, 1000, 1000));
}

#[test]
fn key_material_debug_hides_secrets() {
    let key = mint_key(true);
    let shown = format!("{key:?}");
    let (_, secret_access_key) = key.aws.as_ref().unwrap();
    assert!(shown.contains(&key.id));
    assert!(!shown.contains(&key.secret));
    assert!(!shown.contains(secret_access_key.as_str()));
}

#[test]
fn tenant_ids_follow_the_rule() {
    let long_ok = "a".repeat(64);
    for ok in [
        "a",
        "0",
        "acme",
        "acme-eu.prod_2",
        "9lives",
        long_ok.as_str(),
    ] {
        assert!(validate_tenant_id(ok).is_ok(), "{ok:?}");
    }
    let too_long = "a".repeat(65);
    for bad in [
        "",
        "-a",
        ".a",
        "_a",
        "Acme",
        "a b",
        "a/b",
        "é",
        too_long.as_str(),
    ] {
        let err = validate_tenant_id(bad).unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("1–64")),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn storage_urls_parse() {
    let base = Path::new("/srv/sy");
    let parse = |url| Target::parse(url, Some(base));
    assert_eq!(parse("sqlite::memory:").unwrap(), Target::SqliteMemory);
    assert_eq!(
        parse("sqlite://data/sy.db").unwrap(),
        Target::SqliteFile(PathBuf::from("/srv/sy/data/sy.db"))
    );
    assert_eq!(
        parse("sqlite:///var/lib/sy.db").unwrap(),
        Target::SqliteFile(PathBuf::from("/var/lib/sy.db"))
    );
    assert_eq!(
        Target::parse("sqlite://sy.db", None).unwrap(),
        Target::SqliteFile(PathBuf::from("sy.db"))
    );
    for pg in ["postgres://u@h/db", "postgresql://u:p@h:5433/db"] {
        assert_eq!(parse(pg).unwrap(), Target::Postgres(pg.to_owned()));
    }
    for bad in [
        "",
        "sqlite://",
        "sqlite:sy.db",
        "sqlite://sy.db?mode=ro",
        "mysql://u:hunter2@h/db",
    ] {
        let err = parse(bad).unwrap_err();
        assert!(matches!(&err, StoreError::Url(_)), "{bad:?}: {err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn days_are_named_by_their_utc_date() {
    let cases = [
        (0, "1970-01-01"),
        (-1, "1969-12-31"),
        (59, "1970-03-01"),
        (11_016, "2000-02-29"),
        (11_017, "2000-03-01"),
        (19_723, "2024-01-01"),
        (19_782, "2024-02-29"),
        (20_454, "2026-01-01"),
        (-719_468, "0000-03-01"),
        (2_932_896, "9999-12-31"),
    ];
    for (days, want) in cases {
        assert_eq!(day_name(days), want, "{days}");
    }
    // Consecutive days never repeat or skip a date across four centuries, leap rules included.
    let mut previous = civil_from_days(-1);
    for days in 0..146_097 {
        let (y, m, d) = civil_from_days(days);
        let (py, pm, pd) = previous;
        let next_day = (y, m, d) == (py, pm, pd + 1);
        let next_month = (y, m, d) == (py, pm + 1, 1);
        let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
        assert!(next_day || next_month || next_year, "{days}: {y}-{m}-{d}");
        previous = (y, m, d);
    }
    assert_eq!(previous, (2369, 12, 31));
}

#[test]
fn dimensions_parse_their_names() {
    for dimension in Dimension::ALL {
        assert_eq!(Dimension::parse(dimension.name()), Some(dimension));
    }
    for bad in [
        "",
        "Tenant",
        "day ",
        "key_id",
        "model;drop table usage_records",
    ] {
        assert_eq!(Dimension::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn batches_are_cut_into_powers_of_two_under_sqlites_parameter_limit() {
    let cut = |mut n: usize| {
        let mut sizes = Vec::new();
        while n > 0 {
            let len = chunk_len(n);
            sizes.push(len);
            n -= len;
        }
        sizes
    };
    assert_eq!(cut(1), [1]);
    assert_eq!(cut(500), [256, 128, 64, 32, 16, 4]);
    assert_eq!(cut(2049), [1024, 1024, 1]);
    for rows in [1, 3, 1024] {
        let text = sql::insert_usage_sqlite(rows).0;
        assert_eq!(text.matches('?').count(), rows * sql::USAGE_BINDS, "{rows}");
        // The column list, one per row, and the conflict target.
        assert_eq!(text.matches('(').count(), rows + 2, "{rows}");
    }
    let columns = sql::INSERT_USAGE_POSTGRES.split(')').next().unwrap();
    assert_eq!(columns.matches(',').count() + 1, sql::USAGE_BINDS);
    assert!(sql::INSERT_USAGE_POSTGRES.contains(&format!("${}::", sql::USAGE_BINDS)));
}

#[test]
fn reports_bind_every_value_they_are_given() {
    let query = UsageQuery {
        tenant: Some("x' OR 1=1 --".into()),
        model: Some("m".into()),
        since_ms: Some(5),
        until_ms: Some(9),
        group_by: vec![Dimension::Day, Dimension::Tenant],
        ..UsageQuery::default()
    };
    let (text, params) = sql::usage_report(&query);
    assert!(!text.0.contains("OR 1=1"), "{}", text.0);
    assert_eq!(params.len(), 4);
    assert!(
        text.0.contains("tenant_id = $1 AND model = $2"),
        "{}",
        text.0
    );
    assert!(
        text.0.contains("started_at >= $3 AND started_at < $4"),
        "{}",
        text.0
    );
    assert!(
        text.0.contains("ORDER BY g0 NULLS LAST, g1 NULLS LAST"),
        "{}",
        text.0
    );
    let everything = UsageQuery::default();
    let (totals, none) = sql::usage_report(&everything);
    assert!(none.is_empty());
    assert!(!totals.0.contains("WHERE") && !totals.0.contains("GROUP BY"));
}
