//! The one DataFusion session setup every stage uses: typed options and pophub's functions,
//! so a plan means the same in ingest, publish, queries and (later) on Ballista executors.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::catalog::Session;
use datafusion::common::config::ConfigNonZeroUsize;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaExtensionPlanner;

use crate::publish::golden::GoldenRecordPlanner;
use crate::publish::key_order::InKeyOrderPlanner;

/// A session whose SQL `VARCHAR` is Arrow `Utf8` (the type every pophub table uses) and which
/// knows pophub's functions, evaluated as of the given day; `SHOW TABLES` and `DESCRIBE` work.
/// With a memory limit, sorts and aggregations spill to disk instead of growing past it.
pub fn session(as_of: NaiveDate, memory_limit: Option<usize>) -> SessionContext {
    session_on(as_of, runtime(memory_limit))
}

/// What a hash join's build side may take per linked mention, with room to spare: at 10 million
/// people (21 million mentions) two publish tables' hash joins overran a 4 GB pool (more than 95
/// bytes a mention); at 1 million (2.1 million mentions, two tables at a time) they fit an 8 GB
/// pool (taking about 300 bytes a mention), with publish 25% faster and a lower peak than its
/// sort-merge joins.
const HASH_JOIN_BYTES_PER_MENTION: usize = 512;

/// The sorts whose merge reservations the pool must hold at once, with room to spare.
const SORTS_PER_POOL: usize = 128;

/// The pool each table written at the same time needs: in 256 MB, four tables at once (two
/// partitions each) left a sort without room for one batch, beside the merges of the others, and
/// so did two once the house register's aggregations ran beside `identity_conflict`'s sorts.
const POOL_BYTES_PER_TABLE: usize = 256 << 20;

/// How many tables publish writes at a time: one per thread, as many as the pool holds (at least one).
pub fn tables_at_once(memory_limit: usize, threads: usize) -> usize {
    threads.min(memory_limit / POOL_BYTES_PER_TABLE).max(1)
}

/// Pool bytes per row of a batch: a pool below 1 GB works on batches of fewer than 8,192 rows,
/// so that every spilling operator of two tables' plans holds one in its share with room to spare.
const POOL_BYTES_PER_BATCH_ROW: usize = 128 * 1024;
const MIN_BATCH_ROWS: usize = 512;

/// A session for publish's queries over `mentions` linked mentions, `tables_at_once` tables
/// written at a time: as `session`, sorts and aggregations spilling to disk past `memory_limit`
/// bytes. Hash joins are the faster but cannot spill; they are kept only while a build side of
/// every mention for each table at once fits in half the pool, and joins are made as sort-merge
/// joins (which spill) beyond that, so a large night slows down instead of failing; and always
/// unless `hash_joins_allowed`.
pub fn publish_session(as_of: NaiveDate, memory_limit: usize, mentions: usize, tables_at_once: usize, hash_joins_allowed: bool) -> SessionContext {
    let ctx = session(as_of, Some(memory_limit));
    let hash_joins = hash_joins_allowed
        && mentions.saturating_mul(HASH_JOIN_BYTES_PER_MENTION).saturating_mul(tables_at_once.max(1)) <= memory_limit / 2;
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        let options = state.config_mut().options_mut();
        options.optimizer.prefer_hash_join = hash_joins;
        // A round-robin split above a table's sorted rows (for the Delta writer's own node)
        // would interleave them on the way to the file; the scans are split for parallelism anyway.
        options.optimizer.enable_round_robin_repartition = false;
        // Every sort holds back memory for merging its spills; a table's plan has dozens of
        // sorts, so the default 10 MB each would take a small pool whole and leave them nothing.
        let reservation = &mut options.execution.sort_spill_reservation_bytes;
        *reservation = (memory_limit / SORTS_PER_POOL).min(*reservation);
        // And each needs a batch in its share of the pool: smaller batches in a small pool.
        let batch_rows = (memory_limit / POOL_BYTES_PER_BATCH_ROW).clamp(MIN_BATCH_ROWS, options.execution.batch_size.get());
        options.execution.batch_size = ConfigNonZeroUsize::try_new(batch_rows).expect("at least MIN_BATCH_ROWS");
    }
    ctx
}

/// How many spill files one merge pass of a sort reads at most; more are merged in passes. A
/// merge's buffers cannot spill and, unbounded, take all the pool they find: at ten million
/// people one sort's merge of its spills held 5.5 GB of an 8 GB pool and starved the others.
const SPILL_MERGE_FAN_IN: usize = 16;

/// Pool bytes per spill file a merge pass reads (at least two): in the 256 MB pool, merges of
/// sixteen left a sort-merge join's sort without room for one batch.
const POOL_BYTES_PER_MERGED_SPILL: usize = 512 << 20;

/// A runtime for sessions: a memory pool of `memory_limit` bytes (unbounded without) and the
/// default disk manager to spill to. The pool is fair: each operator that can spill (sorts,
/// aggregations, the sorts under sort-merge joins) may hold its share of the pool and no more,
/// so one cannot fill it and leave another with nothing, not even what it needs to spill.
pub fn runtime(memory_limit: Option<usize>) -> Arc<RuntimeEnv> {
    let fan_in = memory_limit.map_or(SPILL_MERGE_FAN_IN, |limit| (limit / POOL_BYTES_PER_MERGED_SPILL).clamp(2, SPILL_MERGE_FAN_IN));
    let mut runtime = RuntimeEnvBuilder::new().with_max_spill_merge_fan_in(fan_in);
    if let Some(limit) = memory_limit {
        let top_consumers = std::num::NonZeroUsize::new(5).expect("non-zero");
        runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(FairSpillPool::new(limit), top_consumers)));
    }
    Arc::new(runtime.build().expect("runtime with default disk manager"))
}

/// The physical planner for pophub's plans: Delta's extension nodes (so plans that write Delta
/// tables run here too), and publish's `InKeyOrder` and `GoldenRecord`.
#[derive(Debug)]
struct Planner;

#[async_trait::async_trait]
impl QueryPlanner for Planner {
    async fn create_physical_plan(&self, plan: &LogicalPlan, session: &dyn Session) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let extensions: Vec<Arc<dyn ExtensionPlanner + Send + Sync>> = vec![DeltaExtensionPlanner::new(), Arc::new(InKeyOrderPlanner), Arc::new(GoldenRecordPlanner)];
        DefaultPhysicalPlanner::with_extension_planners(extensions).create_physical_plan(plan, session).await
    }
}

/// The same session on a given runtime: sessions sharing one runtime share its object stores, so
/// tables registered in one run in the others (the server's role sessions over one night).
pub fn session_on(as_of: NaiveDate, runtime: Arc<RuntimeEnv>) -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(true);
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    config.options_mut().execution.parquet.schema_force_view_types = false;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(Arc::new(Planner))
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::identity::udf::Functions::new(as_of).register(&ctx);
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_joins(mentions: usize, tables_at_once: usize) -> bool {
        let ctx = publish_session(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), 8192 << 20, mentions, tables_at_once, true);
        ctx.state().config().options().optimizer.prefer_hash_join
    }

    #[test]
    fn publish_joins_are_hash_joins_only_while_they_fit_half_the_pool() {
        assert!(hash_joins(2_110_504, 2));
        assert!(!hash_joins(6_328_589, 2));
        assert!(hash_joins(6_328_589, 1));
        assert!(!hash_joins(21_093_083, 1));
        let never = publish_session(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), 8192 << 20, 1_000, 1, false);
        assert!(!never.state().config().options().optimizer.prefer_hash_join, "`hash_joins = false` makes every join a sort-merge join");
    }

    #[test]
    fn a_small_pool_writes_fewer_tables_at_once() {
        assert_eq!(tables_at_once(256 << 20, 4), 1);
        assert_eq!(tables_at_once(512 << 20, 4), 2);
        assert_eq!(tables_at_once(8192 << 20, 4), 4);
        assert_eq!(tables_at_once(100 << 20, 2), 1);
    }
}
