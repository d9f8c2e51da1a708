//! Remote objects fetched ahead of the reader.
//!
//! A scan partition reads its files in order on a blocking thread. For local
//! files that thread reads the disk itself; for objects in S3 one request at a
//! time would leave the scan waiting on the network's round trip for every
//! file (CloudTrail delivers many small files). [`start`] fetches a
//! partition's remote objects on the async runtime, many in flight, and hands
//! them to the reader in the partition's order, so listing, fetching and
//! parsing overlap.
//!
//! Two bounds keep this from holding the bucket in memory: a number of
//! objects in flight per partition, and a byte budget per partition (the
//! scan's budget divided among them). Each partition has its own: with one
//! shared budget, a partition whose consumer paused (a merge waiting on
//! another input) would hold the shares the other partition's next object
//! waits for, and neither would move. An object takes its listed size from the budget
//! before it is requested (in file order, so an object whose turn has come is
//! never starved by later ones) and gives it back when the reader has parsed
//! it. An object larger than the whole budget takes all of it, so a reader
//! must give an object's share back before it waits for the next one.

use std::sync::Arc;

use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::source::Fetcher;

/// Objects in flight per scan (divided among its partitions).
pub const IN_FLIGHT: usize = 32;

/// Listed bytes fetched and not yet parsed, per scan (divided among its
/// partitions).
pub const BUDGET_BYTES: u64 = 256 << 20;

/// The budget is counted in KiB (a semaphore's permits are `u32` per take).
const UNIT: u64 = 1024;

/// A partition's byte budget.
#[derive(Debug, Clone)]
pub struct Budget {
    sem: Arc<Semaphore>,
    units: u32,
}

impl Budget {
    pub fn new(bytes: u64) -> Self {
        let units = (bytes / UNIT).clamp(1, u32::MAX as u64) as u32;
        Budget {
            sem: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    fn cost(&self, size: u64) -> u32 {
        (size.div_ceil(UNIT)).clamp(1, self.units as u64) as u32
    }
}

/// One remote object of a partition: (bucket, key, listed size).
pub type Wanted = (String, String, u64);

/// An object's bytes (or why it could not be read), holding its share of the
/// budget until dropped.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Result<Vec<u8>, String>,
    share: Share,
}

/// An object's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Share(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Fetched {
    /// The bytes, and the share to hold until they are parsed.
    pub fn into_parts(self) -> (Result<Vec<u8>, String>, Share) {
        (self.bytes, self.share)
    }
}

/// Fetch `wanted` in order, at most `in_flight` at a time, within `budget`.
/// The receiver yields exactly one [`Fetched`] per object, in order; dropping
/// it stops the fetching (what is in flight finishes and is dropped).
pub fn start(
    handle: &Handle,
    fetcher: Fetcher,
    wanted: Vec<Wanted>,
    in_flight: usize,
    budget: Budget,
) -> mpsc::Receiver<Fetched> {
    let (tx, rx) = mpsc::channel(1);
    let spawner = handle.clone();
    handle.spawn(async move {
        let results = futures::stream::iter(wanted)
            // `then` takes the budget one object at a time, in order.
            .then(|(bucket, key, size)| {
                let sem = budget.sem.clone();
                let cost = budget.cost(size);
                async move {
                    let share = sem.acquire_many_owned(cost).await.ok();
                    (bucket, key, share)
                }
            })
            // Each request is its own task, so it progresses while the
            // reader has not yet taken the one before it.
            .map(|(bucket, key, share)| {
                let fe = fetcher.clone();
                let task = spawner.spawn(async move { fe.fetch(&bucket, &key).await });
                async move {
                    let bytes = match task.await {
                        Ok(r) => r,
                        Err(e) => Err(format!("the fetch failed ({e})")),
                    };
                    Fetched {
                        bytes,
                        share: Share(share),
                    }
                }
            })
            .buffered(in_flight.max(1));
        let mut results = std::pin::pin!(results);
        while let Some(f) = results.next().await {
            if tx.send(f).await.is_err() {
                break; // the reader stopped (LIMIT, an error)
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RemoteFetcher;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// An object store whose every GET takes a while, counting what is in
    /// flight at once.
    #[derive(Debug, Default)]
    struct Slow {
        now: AtomicUsize,
        most: AtomicUsize,
        started: AtomicUsize,
    }

    #[async_trait]
    impl RemoteFetcher for Slow {
        async fn fetch(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
            self.started.fetch_add(1, Ordering::SeqCst);
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            // Later keys answer sooner: order must come from the prefetcher.
            let i: u64 = key.parse().unwrap();
            tokio::time::sleep(Duration::from_millis(30 - i % 30)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            if key == "13" {
                return Err("AccessDenied".into());
            }
            Ok(format!("{bucket}/{key}").into_bytes())
        }
    }

    fn wanted(n: usize, size: u64) -> Vec<Wanted> {
        (0..n).map(|i| ("b".into(), i.to_string(), size)).collect()
    }

    #[test]
    fn objects_arrive_in_order_many_in_flight_one_failure_alone() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let slow = Arc::new(Slow::default());
        let mut rx = start(
            rt.handle(),
            slow.clone(),
            wanted(40, 10),
            8,
            Budget::new(1 << 20),
        );
        let got: Vec<_> = std::iter::from_fn(|| rx.blocking_recv()).collect();
        assert_eq!(got.len(), 40);
        for (i, f) in got.iter().enumerate() {
            match &f.bytes {
                Ok(b) => assert_eq!(b, format!("b/{i}").as_bytes()),
                Err(e) => assert_eq!((i, e.as_str()), (13, "AccessDenied")),
            }
        }
        let most = slow.most.load(Ordering::SeqCst);
        assert!((2..=8).contains(&most), "in flight at once: {most}");
    }

    #[test]
    fn the_byte_budget_bounds_what_is_held() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let slow = Arc::new(Slow::default());
        // 3 KiB of budget, objects of 1 KiB: at most 3 fetched or in flight
        // and not yet parsed, whatever the number in flight allows. One
        // larger than the whole budget still comes (alone). The reader
        // gives an object's share back before it takes the next (as the
        // scan does), or one that took the whole budget would starve the
        // next.
        let mut w = wanted(12, 1024);
        w[6].2 = 1 << 30;
        let mut rx = start(rt.handle(), slow.clone(), w, 16, Budget::new(3 * 1024));
        for i in 0..12 {
            // Let the prefetcher run ahead as far as it may.
            std::thread::sleep(Duration::from_millis(60));
            let started = slow.started.load(Ordering::SeqCst);
            assert!(started <= i + 3, "{started} started with {i} parsed");
            let f = rx.blocking_recv().unwrap();
            assert_eq!(f.bytes.as_deref().ok(), Some(format!("b/{i}").as_bytes()));
            drop(f); // parsed: its share goes back
        }
        assert!(rx.blocking_recv().is_none());
    }

    #[test]
    fn a_partition_not_read_does_not_stop_another() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let slow = Arc::new(Slow::default());
        // Partition b is never read (its consumer paused): partition a still
        // gets all its objects, b holding only its own budget.
        let _b = start(
            rt.handle(),
            slow.clone(),
            wanted(12, 1024),
            8,
            Budget::new(2 * 1024),
        );
        let mut a = start(
            rt.handle(),
            slow.clone(),
            wanted(12, 1024),
            8,
            Budget::new(2 * 1024),
        );
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..12 {
            let f = a.blocking_recv().unwrap();
            assert_eq!(f.bytes.as_deref().ok(), Some(format!("b/{i}").as_bytes()));
        }
        // b fetched what its budget allows, no more.
        assert!(slow.started.load(Ordering::SeqCst) <= 12 + 2);
    }

    #[test]
    fn dropping_the_reader_stops_the_fetching() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let slow = Arc::new(Slow::default());
        let mut rx = start(
            rt.handle(),
            slow.clone(),
            wanted(1000, 1),
            4,
            Budget::new(1 << 20),
        );
        let _ = rx.blocking_recv();
        drop(rx);
        std::thread::sleep(Duration::from_millis(300));
        let started = slow.started.load(Ordering::SeqCst);
        assert!(started <= 8, "{started} of 1000 fetched");
        assert_eq!(slow.now.load(Ordering::SeqCst), 0);
    }
}
