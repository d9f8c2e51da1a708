//! EKS control-plane audit and authenticator logs.

use super::*;

/// The IAM actions this source's status, enable and cleanup call.
pub(super) const ACTIONS: Actions = Actions {
    status: &["eks:ListClusters", "eks:DescribeCluster"],
    enable: &["eks:UpdateClusterConfig", "eks:TagResource"],
    cleanup: &["eks:UpdateClusterConfig", "eks:UntagResource"],
};

const EKS_TYPES: [&str; 2] = ["audit", "authenticator"];

/// Seconds to wait, one after the other, for a cluster update in progress
/// to finish (EKS updates take minutes): about 4 minutes in all.
const UPDATE_WAITS: [u64; 8] = [2, 4, 8, 16, 30, 60, 60, 60];

async fn eks_clusters(t: &Target) -> Result<Vec<aws_sdk_eks::types::Cluster>> {
    let e = aws_sdk_eks::Client::new(&t.conf);
    let mut names = vec![];
    let mut next = None;
    loop {
        let p = e
            .list_clusters()
            .set_next_token(next)
            .send()
            .await
            .map_err(|x| err("eks:ListClusters", x))?;
        names.extend(p.clusters().iter().cloned());
        next = p.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    let mut out = vec![];
    for n in names {
        let d = e
            .describe_cluster()
            .name(&n)
            .send()
            .await
            .map_err(|x| err("eks:DescribeCluster", x))?;
        if let Some(c) = d.cluster() {
            out.push(c.clone());
        }
    }
    Ok(out)
}

fn eks_enabled(c: &aws_sdk_eks::types::Cluster) -> BTreeSet<String> {
    c.logging()
        .map(|l| {
            l.cluster_logging()
                .iter()
                .filter(|s| s.enabled() == Some(true))
                .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn inspect(
    t: &Target,
    enable: Option<&EnableOptions>,
    f: &mut Found,
) -> Result<()> {
    let clusters = eks_clusters(t).await?;
    if clusters.is_empty() {
        f.rows.push(row(t, Source::Eks, State::None, "no clusters"));
        return Ok(());
    }
    let mut gaps: Vec<(String, Vec<String>, Vec<String>)> = vec![];
    for c in &clusters {
        let on = eks_enabled(c);
        let want: Vec<String> = EKS_TYPES
            .iter()
            .filter(|ty| !on.contains(**ty))
            .map(|s| s.to_string())
            .collect();
        if !want.is_empty() {
            let after: Vec<String> = on
                .iter()
                .cloned()
                .chain(want.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            gaps.push((c.name().unwrap_or_default().to_string(), want, after));
        }
    }
    let state = if gaps.is_empty() {
        State::On
    } else if gaps.len() == clusters.len() && gaps.iter().all(|g| g.1.len() == EKS_TYPES.len()) {
        State::Off
    } else {
        State::Partial
    };
    let reason = if gaps.is_empty() {
        format!(
            "{} cluster(s) with audit and authenticator logs",
            clusters.len()
        )
    } else {
        gaps.iter()
            .map(|(n, w, _)| format!("{n}: {} off", w.join("+")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    f.rows.push(row(t, Source::Eks, state, reason));
    if enable.is_none() {
        return Ok(());
    }
    // Only the types not already on; the cluster is tagged with them so
    // cleanup turns off exactly those.
    for (name, types, after) in gaps {
        f.changes.push(change(
            t,
            Source::Eks,
            "enable",
            format!("EKS cluster {name}"),
            format!(
                "control-plane logs {} (to CloudWatch Logs /aws/eks/{name}/cluster)",
                types.join(", ")
            ),
            Op::EksLogging {
                cluster: name,
                types,
                enable: true,
                after,
            },
        ));
    }
    Ok(())
}

pub(super) async fn cleanup(t: &Target, ledger: &Ledger, f: &mut Found) -> Result<()> {
    for c in eks_clusters(t).await? {
        let name = c.name().unwrap_or_default().to_string();
        // The types irprep turned on are the ledger's; the cluster's tag is
        // only a hint (anyone may write it) and is reported when it differs.
        let prefix = format!("{name}/");
        let on = eks_enabled(&c);
        let types: Vec<String> = ledger
            .of(&t.account, &t.region, Kind::EksLogType)
            .filter_map(|e| e.id.strip_prefix(&prefix))
            .filter(|ty| on.contains(*ty))
            .map(String::from)
            .collect();
        let tagged: Vec<&str> = c
            .tags()
            .and_then(|tags| tags.get(EKS_TAG))
            .map(|v| v.split(['+', ',', ' ']).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if tagged.iter().any(|ty| !types.iter().any(|x| x == ty)) {
            f.leave(
                t,
                Source::Eks,
                format!("EKS cluster {name}"),
                "its irprep:eks-log-types tag names log types irprep's ledger does not record: those stay on",
            );
        }
        if types.is_empty() {
            continue;
        }
        let after: Vec<String> = eks_enabled(&c)
            .into_iter()
            .filter(|x| !types.contains(x))
            .collect();
        f.changes.push(change(
            t,
            Source::Eks,
            "disable",
            format!("EKS cluster {name}"),
            format!("control-plane logs irprep turned on: {}", types.join(", ")),
            Op::EksLogging {
                cluster: name,
                types,
                enable: false,
                after,
            },
        ));
    }
    Ok(())
}

/// Make one of this source's changes; what it creates or removes goes
/// into `records`.
pub(super) async fn apply(conf: &SdkConfig, c: &Change, records: &mut Vec<Record>) -> Result<()> {
    let entry = |kind: Kind, id: &str| Entry::new(&c.account, &c.region, kind, id);
    match &c.op {
        Op::EksLogging {
            cluster,
            types,
            enable,
            after,
        } => {
            use aws_sdk_eks::error::ProvideErrorMetadata;
            use aws_sdk_eks::types::{LogSetup, LogType, Logging};
            const ALL: [&str; 5] = [
                "api",
                "audit",
                "authenticator",
                "controllerManager",
                "scheduler",
            ];
            let e = aws_sdk_eks::Client::new(conf);
            let on: Vec<LogType> = after.iter().map(|t| LogType::from(t.as_str())).collect();
            let off: Vec<LogType> = ALL
                .iter()
                .filter(|t| !after.iter().any(|a| a == *t))
                .map(|t| LogType::from(*t))
                .collect();
            let mut logging = Logging::builder();
            if !on.is_empty() {
                logging = logging.cluster_logging(
                    LogSetup::builder()
                        .set_types(Some(on))
                        .enabled(true)
                        .build(),
                );
            }
            if !off.is_empty() {
                logging = logging.cluster_logging(
                    LogSetup::builder()
                        .set_types(Some(off))
                        .enabled(false)
                        .build(),
                );
            }
            let logging = logging.build();
            // EKS runs one update of a cluster at a time and refuses another
            // meanwhile (ResourceInUseException): someone's node-group or
            // version update, or an earlier run's. Wait for it, then give up
            // naming it. Types already as wanted ("No changes needed", when
            // someone else changed them first) are done.
            let mut waits = UPDATE_WAITS.iter();
            loop {
                match e
                    .update_cluster_config()
                    .name(cluster)
                    .logging(logging.clone())
                    .send()
                    .await
                {
                    Ok(_) => break,
                    Err(x) if x.message().is_some_and(|m| m.contains("No changes needed")) => {
                        break
                    }
                    Err(x) if x.code() == Some("ResourceInUseException") => match waits.next() {
                        Some(secs) => tokio::time::sleep(std::time::Duration::from_secs(*secs)).await,
                        None => bail!(
                            "eks:UpdateClusterConfig {cluster}: another update of the cluster is still in progress after {} s (ResourceInUseException); run this again when it has finished",
                            UPDATE_WAITS.iter().sum::<u64>()
                        ),
                    },
                    Err(x) => return Err(err("eks:UpdateClusterConfig", x)),
                }
            }
            for ty in types {
                let e = entry(Kind::EksLogType, &format!("{cluster}/{ty}"));
                records.push(if *enable {
                    Record::Added(e)
                } else {
                    Record::Removed(e)
                });
            }
            let desc = e
                .describe_cluster()
                .name(cluster)
                .send()
                .await
                .map_err(|x| err("eks:DescribeCluster", x))?
                .cluster()
                .cloned()
                .context("no cluster described")?;
            let arn = desc.arn().map(String::from).context("cluster has no ARN")?;
            // The tag (a hint for people; the ledger is the record) names
            // every type irprep turned on, earlier runs' too.
            let mut tagged: BTreeSet<String> = desc
                .tags()
                .and_then(|t| t.get(EKS_TAG))
                .map(|v| {
                    v.split(['+', ',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            for ty in types {
                if *enable {
                    tagged.insert(ty.clone());
                } else {
                    tagged.remove(ty);
                }
            }
            if tagged.is_empty() {
                e.untag_resource()
                    .resource_arn(&arn)
                    .tag_keys(EKS_TAG)
                    .send()
                    .await
                    .map_err(|x| err("eks:UntagResource", x))?;
            } else {
                e.tag_resource()
                    .resource_arn(&arn)
                    .tags(EKS_TAG, tagged.into_iter().collect::<Vec<_>>().join("+"))
                    .send()
                    .await
                    .map_err(|x| err("eks:TagResource", x))?;
            }
        }
        _ => bail!("not a change of EKS logging"),
    }
    Ok(())
}
