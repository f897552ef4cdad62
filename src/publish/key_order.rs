//! Rows reach the Delta writer sorted on their table's lookup key. The writer's own node above
//! the plan neither needs nor keeps an order, so DataFusion drops a sort beneath it as useless
//! (every table was written unsorted, whatever its plan said). `InKeyOrder` is the node that
//! needs it: its input in one partition, sorted on the key, passed on as it comes.

use std::fmt;
use std::sync::Arc;

use arrow::compute::SortOptions;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchemaRef, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{LexOrdering, OrderingRequirements, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, InputDistributionRequirements, PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::{DataFrame, ident};

/// Ascending, nulls last: the order `sorted` asks for and the node requires (and the order the
/// golden record reads `person_source` in).
pub(crate) const KEY_ORDER: SortOptions = SortOptions { descending: false, nulls_first: false };

/// The rows sorted on `key`, in that order up to whatever consumes the plan.
pub fn sorted(rows: DataFrame, key: &str) -> Result<DataFrame> {
    let rows = rows.sort(vec![ident(key).sort(!KEY_ORDER.descending, KEY_ORDER.nulls_first)])?;
    let (state, plan) = rows.into_parts();
    let node = InKeyOrder { input: plan, key: ident(key) };
    Ok(DataFrame::new(state, LogicalPlan::Extension(Extension { node: Arc::new(node) })))
}

/// The logical node: its input, and the key it must come sorted on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Hash)]
struct InKeyOrder {
    input: LogicalPlan,
    key: Expr,
}

impl UserDefinedLogicalNodeCore for InKeyOrder {
    fn name(&self) -> &str {
        "InKeyOrder"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.key.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "InKeyOrder: {}", self.key)
    }

    fn with_exprs_and_inputs(&self, mut exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        match (exprs.pop(), inputs.pop()) {
            (Some(key), Some(input)) if exprs.is_empty() && inputs.is_empty() => Ok(InKeyOrder { input, key }),
            _ => datafusion::common::internal_err!("InKeyOrder has one key and one input"),
        }
    }
}

/// Plans `InKeyOrder` as `InKeyOrderExec`; the session's planner holds it beside Delta's.
#[derive(Debug)]
pub struct InKeyOrderPlanner;

#[async_trait]
impl ExtensionPlanner for InKeyOrderPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<InKeyOrder>() else { return Ok(None) };
        let (Some(logical), Some(input)) = (logical_inputs.first(), physical_inputs.first()) else {
            return datafusion::common::internal_err!("InKeyOrder has one input");
        };
        let key = planner.create_physical_expr(&node.key, logical.schema(), session, planning_ctx)?;
        Ok(Some(Arc::new(InKeyOrderExec::new(input.clone(), key))))
    }
}

/// The physical node: requires one partition sorted on the key, and passes its rows on.
#[derive(Debug)]
struct InKeyOrderExec {
    input: Arc<dyn ExecutionPlan>,
    order: LexOrdering,
}

impl InKeyOrderExec {
    fn new(input: Arc<dyn ExecutionPlan>, key: Arc<dyn PhysicalExpr>) -> Self {
        let order = LexOrdering::new([PhysicalSortExpr::new(key, KEY_ORDER)]).expect("one sort expression");
        InKeyOrderExec { input, order }
    }
}

impl DisplayAs for InKeyOrderExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "InKeyOrderExec: {}", self.order)
    }
}

impl ExecutionPlan for InKeyOrderExec {
    fn name(&self) -> &str {
        "InKeyOrderExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        InputDistributionRequirements::new(vec![Distribution::SinglePartition])
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![Some(OrderingRequirements::from(self.order.clone()))]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        // The key describes the input's order; this node evaluates nothing.
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>, _options: ReplaceChildrenOptions) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(InKeyOrderExec { input, order: self.order.clone() })),
            _ => datafusion::common::internal_err!("InKeyOrderExec has one input"),
        }
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
