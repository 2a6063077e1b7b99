//! Helpers for tests that use a real Redis: where it is, and removing a test's keys afterwards.

use redis::AsyncCommands;

/// The Redis tests use: `SWITCHYARD_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test run uses: `<name>:<process id>-<nanoseconds>`.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}:{}-{nanos}", std::process::id())
}

/// The keys under `prefix` (those starting with `<prefix>:`).
pub async fn keys_under(url: &str, prefix: &str) -> redis::RedisResult<Vec<String>> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{}:*", escape_glob(prefix));
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// Deletes every key under `prefix` (SCAN, then DEL); returns how many there were.
pub async fn clear_prefix(url: &str, prefix: &str) -> redis::RedisResult<usize> {
    let keys = keys_under(url, prefix).await?;
    if keys.is_empty() {
        return Ok(0);
    }
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    for chunk in keys.chunks(500) {
        let _: usize = conn.del(chunk).await?;
    }
    Ok(keys.len())
}

/// Makes `prefix` match only itself in a SCAN pattern.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(super::escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(super::escape_glob("sy-limits:1-2"), "sy-limits:1-2");
    }
}
