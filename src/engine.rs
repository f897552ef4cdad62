//! The one DataFusion session setup every stage uses: typed options and pophub's functions,
//! so a plan means the same in ingest, publish, queries and (later) on Ballista executors.

use chrono::NaiveDate;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A session whose SQL `VARCHAR` is Arrow `Utf8` (the type every pophub table uses) and which
/// knows pophub's functions, evaluated as of the given day; `SHOW TABLES` and `DESCRIBE` work.
pub fn session(as_of: NaiveDate) -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(true);
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    let ctx = SessionContext::new_with_config(config);
    crate::identity::udf::register(&ctx, as_of);
    ctx
}
