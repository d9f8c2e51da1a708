//! A small, generic, SigV4-signed AWS API client for data-driven calls.
//!
//! Scenario steps are data (service, operation, wire parameters), so their
//! calls are sent through one client that speaks the three AWS protocols the
//! scenarios need, signed with `aws-sigv4` from the standard credential chain
//! (`aws-config`): the Query protocol (EC2, IAM, STS, RDS), JSON 1.1
//! (CloudTrail, Secrets Manager, SSM, KMS, Organizations, Route 53 Resolver,
//! Config, CloudWatch Logs) and REST (S3, Lambda, GuardDuty). Every request
//! carries irprep's user agent, with the simulation marker when given.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Result};
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Query { version: &'static str },
    Json { target: &'static str },
    Rest,
}

#[derive(Debug, Clone, Copy)]
pub struct ServiceDef {
    pub name: &'static str,
    /// SigV4 signing name.
    pub signing: &'static str,
    pub protocol: Protocol,
    /// Global service: always signed for us-east-1 on its global endpoint.
    pub global: bool,
}

pub fn service(name: &str) -> Option<ServiceDef> {
    use Protocol::*;
    let d = |name, signing, protocol, global| ServiceDef {
        name,
        signing,
        protocol,
        global,
    };
    Some(match name {
        "ec2" => d(
            "ec2",
            "ec2",
            Query {
                version: "2016-11-15",
            },
            false,
        ),
        "iam" => d(
            "iam",
            "iam",
            Query {
                version: "2010-05-08",
            },
            true,
        ),
        "sts" => d(
            "sts",
            "sts",
            Query {
                version: "2011-06-15",
            },
            false,
        ),
        "rds" => d(
            "rds",
            "rds",
            Query {
                version: "2014-10-31",
            },
            false,
        ),
        "cloudtrail" => d(
            "cloudtrail",
            "cloudtrail",
            Json {
                target: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
            },
            false,
        ),
        "secretsmanager" => d(
            "secretsmanager",
            "secretsmanager",
            Json {
                target: "secretsmanager",
            },
            false,
        ),
        "ssm" => d(
            "ssm",
            "ssm",
            Json {
                target: "AmazonSSM",
            },
            false,
        ),
        "kms" => d(
            "kms",
            "kms",
            Json {
                target: "TrentService",
            },
            false,
        ),
        "organizations" => d(
            "organizations",
            "organizations",
            Json {
                target: "AWSOrganizationsV20161128",
            },
            true,
        ),
        "route53resolver" => d(
            "route53resolver",
            "route53resolver",
            Json {
                target: "Route53Resolver",
            },
            false,
        ),
        "config" => d(
            "config",
            "config",
            Json {
                target: "StarlingDoveService",
            },
            false,
        ),
        "logs" => d(
            "logs",
            "logs",
            Json {
                target: "Logs_20140328",
            },
            false,
        ),
        "s3" => d("s3", "s3", Rest, false),
        "lambda" => d("lambda", "lambda", Rest, false),
        "guardduty" => d("guardduty", "guardduty", Rest, false),
        _ => return None,
    })
}

/// Standard base64 with padding.
fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= c.len() {
                out.push(T[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`: us-east-1, ap-southeast-4, us-gov-west-1.
pub fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && {
            let n = parts[parts.len() - 1];
            (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
        }
}

/// `base` with `path` (and its query) set through the URL type; the host and
/// port must stay `base`'s.
fn with_path(base: &reqwest::Url, path: &str) -> Result<String> {
    let mut u = base.clone();
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    u.set_path(p);
    u.set_query(q);
    if u.host_str() != base.host_str() || u.port_or_known_default() != base.port_or_known_default()
    {
        bail!("{path:?} would leave {}", base.host_str().unwrap_or(""));
    }
    Ok(u.to_string())
}

/// The response of one call, reduced to what scenarios need.
#[derive(Debug, Clone)]
pub struct WireResponse {
    pub status: u16,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_id: Option<String>,
    pub body: String,
}

impl WireResponse {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status) && self.error_code.is_none()
    }
}

pub struct WireClient {
    http: reqwest::Client,
    provider: aws_credential_types::provider::SharedCredentialsProvider,
    /// The credentials requests are signed with, fetched again from the
    /// provider when they are about to expire (SSO, role and instance
    /// credentials last an hour or less; a long `drill --live` or `--org`
    /// run outlives them).
    creds: tokio::sync::Mutex<Credentials>,
    /// Every access key id a request was signed with, in order of first use.
    keys: std::sync::Mutex<Vec<String>>,
    endpoint_url: Option<String>,
    user_agent: String,
}

/// Flatten nested parameters into Query-protocol names (`A.B`, lists `A.1`).
pub fn flatten_query(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_query(&key, x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten_query(&format!("{prefix}.{}", i + 1), x, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim().to_string())
}

/// Every value of a tag (e.g. all `<vpcId>` in a DescribeVpcs response).
pub fn xml_all(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = vec![];
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let s = &rest[i + open.len()..];
        let Some(j) = s.find(&close) else { break };
        out.push(s[..j].trim().to_string());
        rest = &s[j + close.len()..];
    }
    out
}

impl WireClient {
    pub async fn new(
        conf: &SdkConfig,
        endpoint_url: Option<String>,
        marker: Option<&str>,
    ) -> Result<Self> {
        let provider = conf.credentials_provider().ok_or_else(|| {
            anyhow!("no AWS credentials found (profile, environment, SSO or instance role)")
        })?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| anyhow!("loading AWS credentials: {e}"))?;
        let mut ua = format!("irprep/{}", env!("CARGO_PKG_VERSION"));
        if let Some(m) = marker {
            ua.push(' ');
            ua.push_str(m);
        }
        let http = reqwest::Client::builder()
            .user_agent(ua.clone())
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let keys = std::sync::Mutex::new(vec![creds.access_key_id().to_string()]);
        Ok(WireClient {
            http,
            provider: provider.clone(),
            creds: tokio::sync::Mutex::new(creds),
            keys,
            endpoint_url,
            user_agent: ua,
        })
    }

    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The access key id the first request was signed with.
    pub fn access_key_id(&self) -> String {
        self.access_key_ids()[0].clone()
    }

    /// Every access key id requests were signed with so far (more than one
    /// when expiring credentials were refreshed during the run).
    pub fn access_key_ids(&self) -> Vec<String> {
        self.keys.lock().map(|k| k.clone()).unwrap_or_default()
    }

    /// Credentials valid for at least five more minutes: the ones held, or
    /// fresh ones from the provider when those expire sooner.
    async fn credentials(&self) -> Result<Credentials> {
        let mut held = self.creds.lock().await;
        let soon = SystemTime::now() + std::time::Duration::from_secs(300);
        if held.expiry().is_some_and(|t| t <= soon) {
            let fresh = self
                .provider
                .provide_credentials()
                .await
                .map_err(|e| anyhow!("refreshing AWS credentials: {e}"))?;
            if let Ok(mut keys) = self.keys.lock() {
                if !keys.iter().any(|k| k == fresh.access_key_id()) {
                    keys.push(fresh.access_key_id().to_string());
                }
            }
            *held = fresh;
        }
        Ok(held.clone())
    }

    fn host(&self, svc: &ServiceDef, region: &str) -> String {
        if let Some(e) = &self.endpoint_url {
            return e.trim_end_matches('/').to_string();
        }
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        match svc.name {
            "iam" if region.starts_with("us-gov-") => "https://iam.us-gov.amazonaws.com".into(),
            "iam" if region.starts_with("cn-") => format!("https://iam.{region}.{suffix}"),
            "iam" => format!("https://iam.{suffix}"),
            "organizations" => format!("https://organizations.{region}.{suffix}"),
            "s3" => format!("https://s3.{region}.{suffix}"),
            n => format!("https://{n}.{region}.{suffix}"),
        }
    }

    /// Call `operation` of `service` in `region` with wire `params`.
    pub async fn call(
        &self,
        service_name: &str,
        operation: &str,
        region: &str,
        params: &Value,
    ) -> Result<WireResponse> {
        let svc = service(service_name).ok_or_else(|| {
            anyhow!("service '{service_name}' is not supported by the scenario runner")
        })?;
        let region = if svc.global {
            global_region(svc.name, region)
        } else {
            region
        };
        // The region becomes part of a host name: only a real region's shape.
        if !is_region(region) {
            bail!("{service_name}:{operation}: {region:?} is not an AWS region name");
        }
        let base = reqwest::Url::parse(&self.host(&svc, region))
            .map_err(|e| anyhow!("{service_name}:{operation}: endpoint: {e}"))?;
        let (method, url, body, mut headers): (String, String, Vec<u8>, Vec<(String, String)>) =
            match svc.protocol {
                Protocol::Query { version } => {
                    if let Value::Object(m) = params {
                        if let Some(k) = m.keys().find(|k| {
                            irprep_core::scenario::RESERVED_PARAMS
                                .iter()
                                .any(|r| *r != "DryRun" && r.eq_ignore_ascii_case(k))
                        }) {
                            bail!("{service_name}:{operation}: parameter {k} is the runner's");
                        }
                    }
                    let mut pairs = vec![
                        ("Action".to_string(), operation.to_string()),
                        ("Version".to_string(), version.to_string()),
                    ];
                    flatten_query("", params, &mut pairs);
                    let body = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs.iter())
                        .finish();
                    (
                        "POST".into(),
                        with_path(&base, "/")?,
                        body.into_bytes(),
                        vec![(
                            "content-type".into(),
                            "application/x-www-form-urlencoded; charset=utf-8".into(),
                        )],
                    )
                }
                Protocol::Json { target } => {
                    let body = if params.is_null() {
                        b"{}".to_vec()
                    } else {
                        serde_json::to_vec(params)?
                    };
                    (
                        "POST".into(),
                        with_path(&base, "/")?,
                        body,
                        vec![
                            ("content-type".into(), "application/x-amz-json-1.1".into()),
                            ("x-amz-target".into(), format!("{target}.{operation}")),
                        ],
                    )
                }
                Protocol::Rest => {
                    let method = params
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or("GET")
                        .to_uppercase();
                    let path = params.get("path").and_then(Value::as_str).unwrap_or("/");
                    let body = match params.get("body") {
                        None | Some(Value::Null) => vec![],
                        Some(Value::String(s)) => s.clone().into_bytes(),
                        Some(v) => serde_json::to_vec(v)?,
                    };
                    let ct = if svc.name == "s3" {
                        "application/xml"
                    } else {
                        "application/json"
                    };
                    if !irprep_core::scenario::safe_path(path) {
                        bail!("{service_name}:{operation}: path {path:?} is not a plain path");
                    }
                    (
                        method,
                        with_path(&base, path)?,
                        body,
                        vec![("content-type".into(), ct.into())],
                    )
                }
            };
        // Canonical URL for signing: the query part must be in key=value form.
        let url = normalise_query(&url);
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("")
            .to_string();
        headers.push(("host".into(), host));
        // S3: the payload hash header comes from the signer (once; a second
        // copy would make S3 sign `v,v` and reject the request), and a body
        // carries its Content-MD5, which S3 requires of several operations
        // (PutBucketLifecycleConfiguration among them) and accepts on all.
        if svc.name == "s3" && !body.is_empty() {
            use md5::Digest as _;
            headers.push(("content-md5".into(), base64(&md5::Md5::digest(&body))));
        }
        let identity = self.credentials().await?.into();
        let mut settings = SigningSettings::default();
        if svc.name == "s3" {
            settings.payload_checksum_kind =
                aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        }
        let signing_params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(svc.signing)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| anyhow!("signing parameters: {e}"))?
            .into();
        let signable = SignableRequest::new(
            &method,
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| anyhow!("signing: {e}"))?;
        let (instructions, _sig) = sign(signable, &signing_params)
            .map_err(|e| anyhow!("signing: {e}"))?
            .into_parts();
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes())?, &url)
            .body(body);
        for (k, v) in &headers {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow!("{service_name}:{operation} in {region}: {e}"))?;
        let status = resp.status().as_u16();
        let hdr = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let mut request_id = hdr("x-amzn-requestid").or_else(|| hdr("x-amz-request-id"));
        let header_type = hdr("x-amzn-errortype");
        let text = resp.text().await.unwrap_or_default();
        let (mut code, mut message) = (None, None);
        if !(200..300).contains(&status) || text.contains("<Errors>") {
            if let Ok(j) = serde_json::from_str::<Value>(&text) {
                code = j
                    .get("__type")
                    .or_else(|| j.get("code"))
                    .or_else(|| j.get("Code"))
                    .and_then(Value::as_str)
                    .map(|s| s.rsplit('#').next().unwrap_or(s).to_string());
                message = j
                    .get("message")
                    .or_else(|| j.get("Message"))
                    .and_then(Value::as_str)
                    .map(String::from);
            }
            if code.is_none() {
                code = xml_tag(&text, "Code");
                message = xml_tag(&text, "Message");
            }
            if code.is_none() {
                code = header_type
                    .map(|h| h.split(':').next().unwrap_or(&h).to_string())
                    .or_else(|| Some(format!("HTTP{status}")));
            }
        }
        if request_id.is_none() {
            request_id = xml_tag(&text, "RequestId").or_else(|| xml_tag(&text, "RequestID"));
        }
        Ok(WireResponse {
            status,
            error_code: code,
            error_message: message,
            request_id,
            body: text,
        })
    }
}

fn normalise_query(url: &str) -> String {
    let Some((base, q)) = url.split_once('?') else {
        return url.to_string();
    };
    let mut parts: Vec<String> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.contains('=') {
                p.to_string()
            } else {
                format!("{p}=")
            }
        })
        .collect();
    parts.sort();
    format!("{base}?{}", parts.join("&"))
}

pub fn sha256_hex(b: &[u8]) -> String {
    // aws-sigv4 computes the payload hash itself when asked; this header must
    // carry the same value for S3.
    use std::fmt::Write;
    let digest = sha256(b);
    let mut s = String::with_capacity(64);
    for x in digest {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// SHA-256 (FIPS 180-4), small and dependency-free.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for i in 0..8 {
            h[i] = h[i].wrapping_add(v[i]);
        }
    }
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&h[i].to_be_bytes());
    }
    out
}

/// Parameters of a JSON object as a string map (for tests and messages).
pub fn params_map(v: &Value) -> BTreeMap<String, String> {
    let mut out = vec![];
    flatten_query("", v, &mut out);
    out.into_iter().collect()
}

/// The region a global service (IAM, Organizations) is signed for and
/// reached in, by the partition of the region the call is made from
/// (review finding 21: GovCloud and China have their own).
fn global_region(service: &str, region: &str) -> &'static str {
    match (service, region) {
        (_, r) if r.starts_with("us-gov-") => "us-gov-west-1",
        ("organizations", r) if r.starts_with("cn-") => "cn-northwest-1",
        (_, r) if r.starts_with("cn-") => "cn-north-1",
        _ => "us-east-1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn query_flattening_and_xml() {
        let v = serde_json::json!({"DryRun": true, "LaunchPermission": {"Add": [{"Group": "all"}]}, "InstanceType": "c5.24xlarge"});
        let m = params_map(&v);
        assert_eq!(m["LaunchPermission.Add.1.Group"], "all");
        assert_eq!(m["DryRun"], "true");
        assert_eq!(
            xml_all("<a><vpcId>v1</vpcId><vpcId>v2</vpcId></a>", "vpcId"),
            vec!["v1", "v2"]
        );
        assert_eq!(normalise_query("https://h/b?policy"), "https://h/b?policy=");
    }

    /// A provider handing out short-lived credentials, a new key each time,
    /// as SSO, role and instance credentials are.
    #[derive(Debug)]
    struct Expiring {
        served: std::sync::atomic::AtomicU32,
        lifetime: std::time::Duration,
    }

    impl ProvideCredentials for Expiring {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self
                .served
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("ASIAKEY{n}"),
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + self.lifetime),
                "test",
            )))
        }
    }

    async fn client_with(lifetime: std::time::Duration) -> WireClient {
        let conf = aws_config::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Expiring {
                    served: Default::default(),
                    lifetime,
                }),
            )
            .region(aws_config::Region::new("us-east-1"))
            .build();
        WireClient::new(&conf, Some("http://127.0.0.1:9".into()), None)
            .await
            .unwrap()
    }

    /// Credentials about to expire are fetched again before a request is
    /// signed (review finding 15: they were fetched once, and a long run
    /// ended in ExpiredToken); the keys used are all remembered, so
    /// `simulate verify` looks up the events of each.
    #[tokio::test]
    async fn expiring_credentials_are_refreshed_and_every_key_is_remembered() {
        let c = client_with(std::time::Duration::from_secs(60)).await;
        assert_eq!(c.credentials().await.unwrap().access_key_id(), "ASIAKEY1");
        assert_eq!(c.credentials().await.unwrap().access_key_id(), "ASIAKEY2");
        assert_eq!(c.access_key_id(), "ASIAKEY0");
        assert_eq!(c.access_key_ids(), ["ASIAKEY0", "ASIAKEY1", "ASIAKEY2"]);

        let c = client_with(std::time::Duration::from_secs(3600)).await;
        assert_eq!(c.credentials().await.unwrap().access_key_id(), "ASIAKEY0");
        assert_eq!(c.credentials().await.unwrap().access_key_id(), "ASIAKEY0");
        assert_eq!(c.access_key_ids(), ["ASIAKEY0"]);
    }

    /// What leaves irprep for an S3 call with a body, as a server sees it:
    /// one payload-hash header (two make S3 reject the signature) and the
    /// Content-MD5 S3 requires of operations such as
    /// PutBucketLifecycleConfiguration.
    #[tokio::test]
    async fn an_s3_call_carries_its_hash_once_and_its_md5() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = vec![];
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                head.push(line.trim().to_ascii_lowercase());
            }
            write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            head
        });
        let creds =
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
        let conf = aws_config::SdkConfig::builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(creds),
            )
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let c = WireClient::new(&conf, Some(format!("http://127.0.0.1:{port}")), None)
            .await
            .unwrap();
        let body = "<LifecycleConfiguration/>";
        let r = c
            .call(
                "s3",
                "PutBucketLifecycleConfiguration",
                "us-east-1",
                &serde_json::json!({"method": "PUT", "path": "/b?lifecycle", "body": body}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let head = server.join().unwrap();
        let count = |name: &str| {
            head.iter()
                .filter(|l| l.starts_with(&format!("{name}:")))
                .count()
        };
        assert_eq!(count("x-amz-content-sha256"), 1, "{head:#?}");
        assert_eq!(count("content-md5"), 1, "{head:#?}");
        let signed = head
            .iter()
            .find(|l| l.starts_with("authorization:"))
            .unwrap();
        assert!(
            signed.contains("content-md5") && signed.contains("x-amz-content-sha256"),
            "{signed}"
        );
    }

    #[test]
    fn base64_known_answers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        use md5::Digest as _;
        // Python: base64.b64encode(hashlib.md5(b"Check Integrity!").digest())
        assert_eq!(
            base64(&md5::Md5::digest(b"Check Integrity!")),
            "nwqq6b6ua/tTDk7B5M184w=="
        );
    }

    #[test]
    fn global_services_are_reached_in_their_partition() {
        assert_eq!(global_region("iam", "eu-west-1"), "us-east-1");
        assert_eq!(global_region("iam", "us-gov-east-1"), "us-gov-west-1");
        assert_eq!(global_region("iam", "cn-northwest-1"), "cn-north-1");
        assert_eq!(
            global_region("organizations", "cn-north-1"),
            "cn-northwest-1"
        );
        assert_eq!(
            global_region("organizations", "us-gov-west-1"),
            "us-gov-west-1"
        );
    }

    #[test]
    fn hosts_come_from_real_region_names_and_paths_stay_paths() {
        for r in [
            "us-east-1",
            "ap-southeast-4",
            "us-gov-west-1",
            "eu-central-2",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in [
            "us-east-1@evil.example/",
            "us-east-1.evil.example",
            "US-EAST-1",
            "us-east-",
            "",
            "x-1",
            "us-east-123",
        ] {
            assert!(!is_region(r), "{r}");
        }
        let base = reqwest::Url::parse("https://s3.us-east-1.amazonaws.com").unwrap();
        assert_eq!(
            with_path(&base, "/b?policy").unwrap(),
            "https://s3.us-east-1.amazonaws.com/b?policy"
        );
        for evil in ["@evil.example/x", "//evil.example/x", ".evil.example/x"] {
            let ok = irprep_core::scenario::safe_path(evil);
            let stays = with_path(&base, evil)
                .map(|u| u.starts_with("https://s3.us-east-1.amazonaws.com/"))
                .unwrap_or(true);
            assert!(!ok && stays, "{evil}");
        }
    }
}

/// Calls to one rate-limited API, paced and retried: at most one call per
/// `gap`, and a throttled call (`ThrottlingException`, `Throttling`,
/// `TooManyRequestsException`, HTTP 429) retried with the wait doubling
/// each time. The SDK's standard retry gives up too early for APIs such as
/// LookupEvents (two calls a second per account and region).
#[derive(Debug)]
pub struct Pacer {
    gap: std::time::Duration,
    retries: u32,
    last: Option<std::time::Instant>,
}

impl Pacer {
    pub fn new(gap: std::time::Duration, retries: u32) -> Self {
        Pacer {
            gap,
            retries,
            last: None,
        }
    }

    /// LookupEvents: 2 calls a second; up to 6 retries (1.1 s … 35 s).
    pub fn lookup_events() -> Self {
        Pacer::new(std::time::Duration::from_millis(550), 6)
    }

    pub async fn call(
        &mut self,
        client: &WireClient,
        service: &str,
        operation: &str,
        region: &str,
        params: &Value,
    ) -> Result<WireResponse> {
        let mut attempt = 0u32;
        loop {
            if let Some(t) = self.last {
                if let Some(wait) = self.gap.checked_sub(t.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            self.last = Some(std::time::Instant::now());
            let resp = client.call(service, operation, region, params).await?;
            let throttled = resp.status == 429
                || matches!(
                    resp.error_code.as_deref(),
                    Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")
                );
            if throttled && attempt < self.retries {
                attempt += 1;
                tokio::time::sleep(self.gap * (1u32 << attempt)).await;
                continue;
            }
            return Ok(resp);
        }
    }
}
