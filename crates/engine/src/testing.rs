//! Helpers shared by the engine's unit tests.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

/// A deterministic pseudo-random sequence (a linear congruential generator).
pub fn lcg(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    }
}

/// A query's result (DataFusion SQL) as a text table, for comparing two
/// sessions' answers.
pub async fn result_text(ctx: &SessionContext, sql: &str) -> String {
    pretty_format_batches(&ctx.sql(sql).await.unwrap().collect().await.unwrap())
        .unwrap()
        .to_string()
}
