//! CloudTrail's public keys (ListPublicKeys), for checking digest
//! signatures: one key set per region, each key valid for a time range.

use aws_config::SdkConfig;
use irprep_core::integrity::PublicKey;

/// The public keys of `region` valid at some point in `[start, end]`
/// (RFC 3339 times; both optional), paged.
pub async fn public_keys(
    conf: &SdkConfig,
    region: &str,
    start: Option<&str>,
    end: Option<&str>,
) -> anyhow::Result<Vec<PublicKey>> {
    use aws_sdk_cloudtrail::primitives::{DateTime, DateTimeFormat};
    let client = aws_sdk_cloudtrail::Client::new(&crate::logs::regional(conf, region));
    let time = |t: Option<&str>| -> anyhow::Result<Option<DateTime>> {
        t.map(|t| {
            DateTime::from_str(t, DateTimeFormat::DateTimeWithOffset)
                .map_err(|e| anyhow::anyhow!("time {t}: {e}"))
        })
        .transpose()
    };
    let fmt = |t: Option<&DateTime>| {
        let t = t?;
        chrono::DateTime::from_timestamp(t.secs(), 0).map(irprep_core::timeparse::canonical)
    };
    let (start, end) = (time(start)?, time(end)?);
    let mut out = vec![];
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let r = client
            .list_public_keys()
            .set_start_time(start)
            .set_end_time(end)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cloudtrail:ListPublicKeys in {region}: {}",
                    aws_sdk_cloudtrail::error::DisplayErrorContext(e)
                )
            })?;
        for k in r.public_key_list() {
            let (Some(v), Some(fp)) = (k.value(), k.fingerprint()) else {
                continue;
            };
            out.push(PublicKey {
                fingerprint: fp.to_ascii_lowercase(),
                der: v.as_ref().to_vec(),
                valid_from: fmt(k.validity_start_time()),
                valid_until: fmt(k.validity_end_time()),
            });
        }
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}
