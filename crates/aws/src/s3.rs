//! S3 as a log source: list the keys under `s3://bucket/prefix` (classified
//! by the S3 layout, so partition filters prune before any object is read) and
//! fetch objects for the engine.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use irprep_core::source::{LogFile, RemoteFetcher, RemoteObject};

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.to_string()))
}

/// An S3 client suited to the configuration: path-style addressing when an
/// endpoint override is set (emulators, VPC endpoints by IP).
pub fn client(conf: &SdkConfig, path_style: bool) -> Client {
    let b = aws_sdk_s3::config::Builder::from(conf).force_path_style(path_style);
    Client::from_conf(b.build())
}

#[derive(Debug, Clone)]
pub struct S3Fetcher {
    pub client: Client,
}

#[async_trait]
impl RemoteFetcher for S3Fetcher {
    async fn fetch(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let obj = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("GetObject: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        body(obj).await
    }

    async fn fetch_object(&self, bucket: &str, key: &str) -> Result<Option<RemoteObject>, String> {
        let obj = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "GetObject: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                ))
            }
        };
        let metadata = obj
            .metadata()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(RemoteObject {
            bytes: body(obj).await?,
            metadata,
        }))
    }
}

/// An object's body, refused past [`irprep_core::decompress::MAX_FILE_BYTES`]
/// (by its declared length first, then by what arrives).
async fn body(obj: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Result<Vec<u8>, String> {
    let max = irprep_core::decompress::MAX_FILE_BYTES as i64;
    if let Some(n) = obj.content_length().filter(|n| *n > max) {
        return Err(irprep_core::decompress::too_large(n as u64));
    }
    let body = obj
        .body
        .collect()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    let bytes = body.into_bytes();
    if bytes.len() > max as usize {
        return Err(irprep_core::decompress::too_large(bytes.len() as u64));
    }
    Ok(bytes.to_vec())
}

/// Objects one listing may hold (a month of an Organization's trail is a few
/// million); past it the prefix is refused with a hint, not listed into memory.
pub const MAX_LISTED_OBJECTS: usize = 20_000_000;

/// List every object under the prefix (paginated), classified.
pub async fn list(client: &Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<LogFile>> {
    let mut out = vec![];
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "ListObjectsV2 s3://{bucket}/{prefix}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if key.ends_with('/') {
                continue;
            }
            out.push(LogFile::remote(
                bucket,
                key,
                o.size().unwrap_or(0).max(0) as u64,
            ));
        }
        if out.len() > MAX_LISTED_OBJECTS {
            anyhow::bail!(
                "s3://{bucket}/{prefix} holds more than {MAX_LISTED_OBJECTS} objects: narrow --logs to accounts, regions or days (or use --engine athena)"
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_s3_url("s3://b/p/q/"),
            Some(("b".into(), "p/q/".into()))
        );
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_url("/tmp/x"), None);
    }
}
