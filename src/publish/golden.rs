//! The golden record: each attribute of a person chosen among the values the person's mentions
//! give, by the pipeline's `[golden]` rules, with the record, the night and the rule that chose
//! it (`person_attribute`); `person` takes its name, sex, birth date and ethnicity from there.
//!
//! A person's records are ranked together, one person at a time: `GoldenRecord` is a node of
//! the plan that asks for `person_source` in person-key order (DataFusion sorts it, spilling if
//! it must) and folds each person's run of rows as it passes. Ranking every candidate value of
//! every person by grouping, in SQL, took 61 s of a 1,000,000-person night and over a quarter of
//! an hour at 10,000,000, its groupings spilling in a shared pool; one pass over sorted rows holds
//! one person at a time. The rules travel with the node, so the plan means the same wherever it runs.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayBuilder, AsArray, Date32Array, Date32Builder, Int64Builder, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, Result, exec_err, internal_err};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, OrderingRequirements, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, InputDistributionRequirements, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use super::key_order::KEY_ORDER;
use crate::config::{GoldenOptions, GoldenRule};

/// Each record of a person with what it says of each attribute (`<attribute>`) and, for the
/// founding record of a valid number, what the number says (`<attribute>_by_number`). Text is
/// copied out of the scanned pages (`arrow_cast` to plain Utf8), so a row kept while its
/// person's rows arrive does not hold a whole page.
const CANDIDATE_SQL: &str = "SELECT arrow_cast(person_key, 'Utf8') AS person_key, arrow_cast(source, 'Utf8') AS source, \
       arrow_cast(record_key, 'Utf8') AS record_key, arrow_cast(role, 'Utf8') AS role, arrow_cast(link_rule, 'Utf8') AS link_rule, seen_since, \
       arrow_cast(citizen_id, 'Utf8') AS citizen_id, arrow_cast(id_status, 'Utf8') AS id_status, \
       arrow_cast(NULLIF(trim(name_raw), ''), 'Utf8') AS name, arrow_cast(sex, 'Utf8') AS sex, \
       arrow_cast(CAST(birth_date AS VARCHAR), 'Utf8') AS birth_date, arrow_cast(NULLIF(trim(ethnicity), ''), 'Utf8') AS ethnicity, \
       CASE WHEN link_rule IN ('register', 'new_person') AND id_status IN ('valid', 'upgraded_15') \
            THEN CASE WHEN CAST(substr(citizen_id, 17, 1) AS INT) % 2 = 1 THEN 'M' ELSE 'F' END END AS sex_by_number, \
       CASE WHEN link_rule IN ('register', 'new_person') AND id_status IN ('valid', 'upgraded_15') \
            THEN arrow_cast(CAST(to_date(substr(citizen_id, 7, 8), '%Y%m%d') AS VARCHAR), 'Utf8') END AS birth_date_by_number \
     FROM person_source WHERE person_key IS NOT NULL";

/// What the node writes for each person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum Shape {
    /// `person_attribute`: a row per attribute some record gives, with where it came from.
    Attributes,
    /// `golden_person`: a row per founding record (one a person) with the person's ID number,
    /// the founding record's source and key, the golden values, and the person's count of
    /// mentions and of sources that mention them.
    Persons,
}

/// The golden record in `shape`, as a plan over the session's `person_source`, ranked by `options`.
pub async fn golden_record(ctx: &SessionContext, options: &GoldenOptions, shape: Shape) -> Result<DataFrame> {
    let (state, input) = ctx.sql(CANDIDATE_SQL).await?.into_parts();
    let node = GoldenRecord::new(input, options, shape);
    Ok(DataFrame::new(state, LogicalPlan::Extension(Extension { node: Arc::new(node) })))
}

/// Each attribute with its rules, in the order `person_attribute` lists them.
type Rules = Vec<(&'static str, Vec<GoldenRule>)>;

fn rules_of(options: &GoldenOptions) -> Rules {
    options.attributes().into_iter().map(|(attribute, rules)| (attribute, rules.to_vec())).collect()
}

fn output_schema(shape: Shape) -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let count = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(match shape {
        Shape::Attributes => vec![
            text("person_key"),
            text("attribute"),
            text("value"),
            text("source"),
            text("record_key"),
            text("role"),
            Field::new("night", DataType::Date32, true),
            text("rule"),
            count("mentions_agreeing"),
        ],
        Shape::Persons => vec![
            text("person_key"),
            text("citizen_id"),
            text("id_status"),
            text("founded_by"),
            text("founding_record"),
            text("name"),
            text("sex"),
            text("birth_date"),
            text("ethnicity"),
            count("mention_count"),
            count("source_count"),
        ],
    }))
}

/// The logical node: a person's records in, one row per attribute a record gives out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GoldenRecord {
    input: LogicalPlan,
    rules: Rules,
    shape: Shape,
    schema: DFSchemaRef,
}

impl GoldenRecord {
    fn new(input: LogicalPlan, options: &GoldenOptions, shape: Shape) -> Self {
        // The output schema is a plain Arrow schema of unqualified columns.
        let schema = Arc::new(DFSchema::try_from(output_schema(shape).as_ref().clone()).expect("unqualified columns"));
        GoldenRecord { input, rules: rules_of(options), shape, schema }
    }
}

impl PartialOrd for GoldenRecord {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.input, &self.rules, self.shape).partial_cmp(&(&other.input, &other.rules, other.shape))
    }
}

impl UserDefinedLogicalNodeCore for GoldenRecord {
    fn name(&self) -> &str {
        "GoldenRecord"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GoldenRecord: {:?} {}", self.shape, describe(&self.rules))
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        match (inputs.pop(), exprs.is_empty() && inputs.is_empty()) {
            (Some(input), true) => Ok(GoldenRecord { input, rules: self.rules.clone(), shape: self.shape, schema: self.schema.clone() }),
            _ => internal_err!("GoldenRecord has one input and no expressions"),
        }
    }
}

fn describe(rules: &Rules) -> String {
    let each = rules.iter().map(|(attribute, rules)| format!("{attribute}=[{}]", rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")));
    each.collect::<Vec<_>>().join(" ")
}

/// Plans `GoldenRecord` as `GoldenRecordExec`; the session's planner holds it beside Delta's.
#[derive(Debug)]
pub struct GoldenRecordPlanner;

#[async_trait]
impl ExtensionPlanner for GoldenRecordPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<GoldenRecord>() else { return Ok(None) };
        let Some(input) = physical_inputs.first() else { return internal_err!("GoldenRecord has one input") };
        Ok(Some(Arc::new(GoldenRecordExec::try_new(input.clone(), node.rules.clone(), node.shape)?)))
    }
}


/// The physical node: one partition of records sorted on the person key in, golden rows out in
/// the same order.
#[derive(Debug)]
struct GoldenRecordExec {
    input: Arc<dyn ExecutionPlan>,
    rules: Rules,
    shape: Shape,
    input_order: LexOrdering,
    properties: Arc<PlanProperties>,
}

impl GoldenRecordExec {
    fn try_new(input: Arc<dyn ExecutionPlan>, rules: Rules, shape: Shape) -> Result<Self> {
        let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new_with_schema("person_key", &input.schema())?);
        let input_order = LexOrdering::new([PhysicalSortExpr::new(key, KEY_ORDER)]).expect("one sort expression");
        let schema = output_schema(shape);
        let output_key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("person_key", 0));
        let ordering = EquivalenceProperties::new_with_orderings(schema, [[PhysicalSortExpr::new(output_key, KEY_ORDER)]]);
        let properties = PlanProperties::new(ordering, Partitioning::UnknownPartitioning(1), EmissionType::Incremental, Boundedness::Bounded);
        Ok(GoldenRecordExec { input, rules, shape, input_order, properties: Arc::new(properties) })
    }
}

impl DisplayAs for GoldenRecordExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GoldenRecordExec: {:?} {}", self.shape, describe(&self.rules))
    }
}

impl ExecutionPlan for GoldenRecordExec {
    fn name(&self) -> &str {
        "GoldenRecordExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        InputDistributionRequirements::new(vec![Distribution::SinglePartition])
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![Some(OrderingRequirements::from(self.input_order.clone()))]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        // The key describes the input's order; the node evaluates no expression.
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>, _options: ReplaceChildrenOptions) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(GoldenRecordExec::try_new(input, self.rules.clone(), self.shape)?)),
            _ => internal_err!("GoldenRecordExec has one input"),
        }
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("GoldenRecordExec has one partition, asked for {partition}");
        }
        let input = self.input.execute(0, context)?;
        let fold = Fold::try_new(&input.schema(), self.rules.clone(), self.shape)?;
        let rows = futures::stream::unfold(Some((input, fold)), |state| async move {
            let (mut input, mut fold) = state?;
            loop {
                match input.next().await {
                    Some(Ok(batch)) => match fold.push(batch) {
                        Ok(Some(out)) => return Some((Ok(out), Some((input, fold)))),
                        Ok(None) => continue,
                        Err(e) => return Some((Err(e), None)),
                    },
                    Some(Err(e)) => return Some((Err(e), None)),
                    None => return fold.finish().transpose().map(|out| (out, None)),
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(output_schema(self.shape), rows)))
    }
}

/// Where in the input batch each column the fold reads is.
struct Layout {
    person_key: usize,
    source: usize,
    record_key: usize,
    role: usize,
    link_rule: usize,
    seen_since: usize,
    citizen_id: usize,
    id_status: usize,
    /// Per attribute of the rules: its value's column, and the number's (if the input has one).
    values: Vec<(usize, Option<usize>)>,
}

/// One input batch's columns, typed.
struct Columns {
    person_key: StringArray,
    source: StringArray,
    record_key: StringArray,
    role: StringArray,
    link_rule: StringArray,
    seen_since: Date32Array,
    citizen_id: StringArray,
    id_status: StringArray,
    values: Vec<(StringArray, Option<StringArray>)>,
}

impl Columns {
    fn of(batch: &RecordBatch, layout: &Layout) -> Result<Self> {
        let text = |i: usize| match batch.column(i).as_string_opt::<i32>() {
            Some(a) => Ok(a.clone()),
            None => exec_err!("GoldenRecord: column {} is {}, not Utf8", batch.schema().field(i).name(), batch.column(i).data_type()),
        };
        let Some(seen_since) = batch.column(layout.seen_since).as_primitive_opt::<Date32Type>() else {
            return exec_err!("GoldenRecord: seen_since is {}, not Date32", batch.column(layout.seen_since).data_type());
        };
        let values = layout.values.iter().map(|(v, n)| Ok((text(*v)?, n.map(text).transpose()?))).collect::<Result<_>>()?;
        Ok(Columns {
            person_key: text(layout.person_key)?,
            source: text(layout.source)?,
            record_key: text(layout.record_key)?,
            role: text(layout.role)?,
            link_rule: text(layout.link_rule)?,
            seen_since: seen_since.clone(),
            citizen_id: text(layout.citizen_id)?,
            id_status: text(layout.id_status)?,
            values,
        })
    }
}

/// A candidate value of one attribute: given by record `row` of batch `batch`, or said by the
/// ID number of that (founding) record.
#[derive(Clone, Copy)]
struct Candidate {
    batch: usize,
    row: usize,
    from_number: bool,
}

/// The folding state: the batches that hold the current person's rows, those rows, and the
/// golden rows built so far.
struct Fold {
    rules: Rules,
    layout: Layout,
    batches: Vec<Columns>,
    person: Vec<(usize, usize)>,
    out: Output,
}

impl Fold {
    fn try_new(schema: &Schema, rules: Rules, shape: Shape) -> Result<Self> {
        let at = |name: &str| schema.index_of(name).map_err(|e| datafusion::error::DataFusionError::ArrowError(Box::new(e), None));
        let values = rules.iter().map(|(attribute, _)| Ok((at(attribute)?, schema.index_of(&format!("{attribute}_by_number")).ok()))).collect::<Result<_>>()?;
        let layout = Layout {
            person_key: at("person_key")?,
            source: at("source")?,
            record_key: at("record_key")?,
            role: at("role")?,
            link_rule: at("link_rule")?,
            seen_since: at("seen_since")?,
            citizen_id: at("citizen_id")?,
            id_status: at("id_status")?,
            values,
        };
        let out = match shape {
            Shape::Attributes => Output::Attributes(AttributeRows::default()),
            Shape::Persons => Output::Persons(PersonRows::default()),
        };
        Ok(Fold { rules, layout, batches: Vec::new(), person: Vec::new(), out })
    }

    /// Takes a batch of rows; returns the golden rows of the persons it completed, if any.
    fn push(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.batches.push(Columns::of(&batch, &self.layout)?);
        let b = self.batches.len() - 1;
        for row in 0..batch.num_rows() {
            let key = self.batches[b].person_key.value(row);
            if let Some(&(pb, pr)) = self.person.first() {
                match self.batches[pb].person_key.value(pr).cmp(key) {
                    Ordering::Equal => {}
                    Ordering::Less => self.decide_person(),
                    // A person's rows must come together, or the person would be decided twice.
                    Ordering::Greater => return exec_err!("GoldenRecord: person_source is not in person-key order"),
                }
            }
            self.person.push((b, row));
        }
        // Batches before the current person's first row are done with.
        let first = self.person.first().map_or(b, |&(pb, _)| pb);
        if first > 0 {
            self.batches.drain(..first);
            self.person.iter_mut().for_each(|(pb, _)| *pb -= first);
        }
        self.out.finish_if_any()
    }

    /// The golden rows of the last person, if any are not yet out.
    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if !self.person.is_empty() {
            self.decide_person();
        }
        self.out.finish_if_any()
    }

    fn decide_person(&mut self) {
        let rows = std::mem::take(&mut self.person);
        let (pb, pr) = rows[0];
        let person_key = self.batches[pb].person_key.value(pr);
        let mut chosen: Vec<Option<(Value, &'static str)>> = Vec::with_capacity(self.rules.len());
        for (a, (_, rules)) in self.rules.iter().enumerate() {
            chosen.push(Ranking { batches: &self.batches, attribute: a, rules }.choose(&rows));
        }
        match &mut self.out {
            Output::Attributes(out) => {
                for (a, choice) in chosen.iter().enumerate() {
                    let Some((best, rule)) = choice else { continue };
                    let ranking = Ranking { batches: &self.batches, attribute: a, rules: &self.rules[a].1 };
                    let record = &self.batches[best.best.batch];
                    let row = best.best.row;
                    out.person_key.append_value(person_key);
                    out.attribute.append_value(self.rules[a].0);
                    out.value.append_value(ranking.value_of(best.best));
                    out.source.append_value(if best.best.from_number { "citizen_id" } else { record.source.value(row) });
                    out.record_key.append_value(record.record_key.value(row));
                    out.role.append_value(record.role.value(row));
                    out.night.append_option(record.seen_since.is_valid(row).then(|| record.seen_since.value(row)));
                    out.rule.append_value(rule);
                    out.mentions_agreeing.append_value(best.votes);
                }
            }
            Output::Persons(out) => {
                let mut sources: Vec<&str> = rows.iter().map(|&(b, r)| self.batches[b].source.value(r)).collect();
                sources.sort_unstable();
                sources.dedup();
                let value = |attribute: &str| {
                    let a = self.rules.iter().position(|(name, _)| *name == attribute)?;
                    let (best, _) = chosen[a].as_ref()?;
                    Some(Ranking { batches: &self.batches, attribute: a, rules: &self.rules[a].1 }.value_of(best.best))
                };
                for &(b, r) in rows.iter().filter(|&&(b, r)| founding(self.batches[b].link_rule.value(r))) {
                    let founder = &self.batches[b];
                    out.person_key.append_value(person_key);
                    out.citizen_id.append_option(founder.citizen_id.is_valid(r).then(|| founder.citizen_id.value(r)));
                    out.id_status.append_option(founder.id_status.is_valid(r).then(|| founder.id_status.value(r)));
                    out.founded_by.append_value(founder.source.value(r));
                    out.founding_record.append_value(founder.record_key.value(r));
                    out.name.append_option(value("name"));
                    out.sex.append_option(value("sex"));
                    out.birth_date.append_option(value("birth_date"));
                    out.ethnicity.append_option(value("ethnicity"));
                    out.mention_count.append_value(rows.len() as i64);
                    out.source_count.append_value(sources.len() as i64);
                }
            }
        }
    }
}

/// A value a person's candidates give: its best candidate, and how many records give it.
struct Value {
    best: Candidate,
    votes: i64,
}

/// The `[golden]` rules of one attribute over the person's rows.
struct Ranking<'a> {
    batches: &'a [Columns],
    attribute: usize,
    rules: &'a [GoldenRule],
}

impl<'a> Ranking<'a> {
    /// The best value the person's `rows` give, and the rule that chose it; none if no record
    /// gives one (and the number does not, or is not asked).
    fn choose(&self, rows: &[(usize, usize)]) -> Option<(Value, &'static str)> {
        let uses_number = self.rules.contains(&GoldenRule::Number);
        let mut values: Vec<Value> = Vec::new();
        for &(batch, row) in rows {
            let (given, number) = &self.batches[batch].values[self.attribute];
            let mut offer = |candidate: Candidate, text: &StringArray| {
                if text.is_null(row) {
                    return;
                }
                let value = text.value(row);
                match values.iter_mut().find(|v| self.value_of(v.best) == value) {
                    Some(v) => {
                        v.votes += i64::from(!candidate.from_number);
                        if self.compare_records(&candidate, &v.best) == Ordering::Less {
                            v.best = candidate;
                        }
                    }
                    None => values.push(Value { best: candidate, votes: i64::from(!candidate.from_number) }),
                }
            };
            offer(Candidate { batch, row, from_number: false }, given);
            if let (Some(number), true) = (number, uses_number) {
                offer(Candidate { batch, row, from_number: true }, number);
            }
        }
        values.sort_by(|x, y| self.compare_values(x, y));
        let rule = match values.get(1) {
            None => "unanimous",
            Some(second) => self.deciding_rule(&values[0], second),
        };
        values.into_iter().next().map(|best| (best, rule))
    }

    fn value_of(&self, c: Candidate) -> &'a str {
        let (given, number) = &self.batches[c.batch].values[self.attribute];
        match (c.from_number, number) {
            (true, Some(number)) => number.value(c.row),
            _ => given.value(c.row),
        }
    }

    /// A candidate's key under `rule` (higher ranks first), with `votes` for `most_frequent`
    /// (none among the records of one value: a value is credited to a record rather than to the
    /// number that says the same). The number's value is dated as the record that holds the
    /// number, and is no authority's and no mention's vote.
    fn key(&self, rule: GoldenRule, c: &Candidate, votes: i64, by_number_counts: bool) -> i64 {
        let record = &self.batches[c.batch];
        match rule {
            GoldenRule::Authority if c.from_number => 0,
            GoldenRule::Authority => match record.link_rule.value(c.row) {
                "register" => 2,
                "register_duplicate" => 1,
                _ => 0,
            },
            GoldenRule::MostRecent => i64::from(record.seen_since.value(c.row)),
            GoldenRule::MostFrequent => votes,
            GoldenRule::Number => i64::from(by_number_counts && c.from_number),
        }
    }

    /// Best first: the rules in order, then a record before the number, the founding record
    /// first, then source, record key and role.
    fn compare(&self, x: &Candidate, x_votes: i64, y: &Candidate, y_votes: i64, among_values: bool) -> Ordering {
        for &rule in self.rules {
            let order = self.key(rule, y, y_votes, among_values).cmp(&self.key(rule, x, x_votes, among_values));
            if order != Ordering::Equal {
                return order;
            }
        }
        let (rx, ry) = (&self.batches[x.batch], &self.batches[y.batch]);
        x.from_number
            .cmp(&y.from_number)
            .then_with(|| (!founding(rx.link_rule.value(x.row))).cmp(&!founding(ry.link_rule.value(y.row))))
            .then_with(|| rx.source.value(x.row).cmp(ry.source.value(y.row)))
            .then_with(|| rx.record_key.value(x.row).cmp(ry.record_key.value(y.row)))
            .then_with(|| rx.role.value(x.row).cmp(ry.role.value(y.row)))
    }

    /// Among the candidates of one value.
    fn compare_records(&self, x: &Candidate, y: &Candidate) -> Ordering {
        self.compare(x, 0, y, 0, false)
    }

    /// Among values, each by its best candidate; the value's text last, so the order is total.
    fn compare_values(&self, x: &Value, y: &Value) -> Ordering {
        self.compare(&x.best, x.votes, &y.best, y.votes, true).then_with(|| self.value_of(x.best).cmp(self.value_of(y.best)))
    }

    /// The rule that put `best` ahead of `second`: the first that tells them apart, else the
    /// founding record, else the order of records.
    fn deciding_rule(&self, best: &Value, second: &Value) -> &'static str {
        for &rule in self.rules {
            if self.key(rule, &best.best, best.votes, true) != self.key(rule, &second.best, second.votes, true) {
                return rule.as_str();
            }
        }
        let founding_of = |c: &Candidate| founding(self.batches[c.batch].link_rule.value(c.row));
        if founding_of(&best.best) != founding_of(&second.best) { "founding_record" } else { "record_order" }
    }
}

/// Whether a record founded its person (the register's, or one that starts persons).
fn founding(link_rule: &str) -> bool {
    matches!(link_rule, "register" | "new_person")
}

/// The rows being built, in the node's shape.
enum Output {
    Attributes(AttributeRows),
    Persons(PersonRows),
}

#[derive(Default)]
struct AttributeRows {
    person_key: StringBuilder,
    attribute: StringBuilder,
    value: StringBuilder,
    source: StringBuilder,
    record_key: StringBuilder,
    role: StringBuilder,
    night: Date32Builder,
    rule: StringBuilder,
    mentions_agreeing: Int64Builder,
}

#[derive(Default)]
struct PersonRows {
    person_key: StringBuilder,
    citizen_id: StringBuilder,
    id_status: StringBuilder,
    founded_by: StringBuilder,
    founding_record: StringBuilder,
    name: StringBuilder,
    sex: StringBuilder,
    birth_date: StringBuilder,
    ethnicity: StringBuilder,
    mention_count: Int64Builder,
    source_count: Int64Builder,
}

impl Output {
    fn finish_if_any(&mut self) -> Result<Option<RecordBatch>> {
        let (shape, columns): (Shape, Vec<Arc<dyn Array>>) = match self {
            Output::Attributes(o) if !o.person_key.is_empty() => (
                Shape::Attributes,
                vec![
                    Arc::new(o.person_key.finish()),
                    Arc::new(o.attribute.finish()),
                    Arc::new(o.value.finish()),
                    Arc::new(o.source.finish()),
                    Arc::new(o.record_key.finish()),
                    Arc::new(o.role.finish()),
                    Arc::new(o.night.finish()),
                    Arc::new(o.rule.finish()),
                    Arc::new(o.mentions_agreeing.finish()),
                ],
            ),
            Output::Persons(o) if !o.person_key.is_empty() => (
                Shape::Persons,
                vec![
                    Arc::new(o.person_key.finish()),
                    Arc::new(o.citizen_id.finish()),
                    Arc::new(o.id_status.finish()),
                    Arc::new(o.founded_by.finish()),
                    Arc::new(o.founding_record.finish()),
                    Arc::new(o.name.finish()),
                    Arc::new(o.sex.finish()),
                    Arc::new(o.birth_date.finish()),
                    Arc::new(o.ethnicity.finish()),
                    Arc::new(o.mention_count.finish()),
                    Arc::new(o.source_count.finish()),
                ],
            ),
            _ => return Ok(None),
        };
        Ok(Some(RecordBatch::try_new(output_schema(shape), columns)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    /// Ranks candidates given as (person, source, record, link rule, name, sex, birth, seen since,
    /// citizen_id, id_status) under `options`, and returns (person, attribute, value, source, rule).
    async fn golden(options: &GoldenOptions, mentions: &str) -> Vec<[String; 5]> {
        // Batches of two rows: a person's rows arrive in more than one.
        let ctx = crate::engine::session(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), None);
        ctx.state_ref().write().config_mut().options_mut().execution.batch_size = datafusion::common::config::ConfigNonZeroUsize::try_new(2).unwrap();
        let sql = format!(
            "CREATE VIEW person_source AS SELECT column1 AS person_key, column2 AS source, column3 AS record_key, 'r' AS role, \
             column4 AS link_rule, column5 AS name_raw, column6 AS sex, CAST(column7 AS DATE) AS birth_date, \
             CAST(NULL AS VARCHAR) AS ethnicity, CAST(column8 AS DATE) AS seen_since, column9 AS citizen_id, column10 AS id_status \
             FROM (VALUES {mentions})"
        );
        ctx.sql(&sql).await.unwrap();
        let rows = golden_record(&ctx, options, Shape::Attributes).await.unwrap();
        let rows = rows.select_columns(&["person_key", "attribute", "value", "source", "rule"]).unwrap().sort_by(vec![datafusion::prelude::col("person_key"), datafusion::prelude::col("attribute")]).unwrap();
        let mut out = Vec::new();
        for b in rows.collect().await.unwrap() {
            let text: Vec<_> = (0..5).map(|c| arrow::compute::cast(b.column(c), &DataType::Utf8).unwrap()).collect();
            for r in 0..b.num_rows() {
                out.push(std::array::from_fn(|c| text[c].as_string::<i32>().value(r).to_string()));
            }
        }
        out
    }

    const ID: &str = "'11010519491231002X', 'valid'";

    #[tokio::test]
    async fn the_register_wins_and_a_person_outside_it_takes_the_most_recent_then_the_most_frequent() {
        let mentions = format!(
            "('P1', 'register', 'R1', 'register', '张伟', 'M', '1990-01-01', '2026-10-01', {ID}), \
             ('P1', 'insured', 'S1', 'id_exact', '張偉', NULL, '1990-01-01', '2026-10-31', {ID}), \
             ('P2', 'floating', 'L1', 'new_person', '李丽', NULL, NULL, '2026-10-01', {ID}), \
             ('P2', 'insured', 'S2', 'same_number', '李莉', NULL, NULL, '2026-10-31', {ID}), \
             ('P2', 'rental', 'Z1', 'same_number', '李莉', NULL, NULL, '2026-10-01', {ID})"
        );
        let rows = golden(&GoldenOptions::default(), &mentions).await;
        let find = |p: &str, a: &str| rows.iter().find(|r| r[0] == p && r[1] == a).cloned().unwrap();
        assert_eq!(find("P1", "name"), ["P1", "name", "张伟", "register", "authority"].map(String::from));
        // The register's birth date against the one its number says (a typo in the register).
        assert_eq!(find("P1", "birth_date"), ["P1", "birth_date", "1990-01-01", "register", "authority"].map(String::from));
        // The register's sex stands against the number's (F: 002 is even).
        assert_eq!(find("P1", "sex"), ["P1", "sex", "M", "register", "authority"].map(String::from));
        assert_eq!(find("P2", "name"), ["P2", "name", "李莉", "insured", "most_recent"].map(String::from));
        // Nobody gives P2's sex or birth date: the number does.
        assert_eq!(find("P2", "sex"), ["P2", "sex", "F", "citizen_id", "unanimous"].map(String::from));
        assert_eq!(find("P2", "birth_date")[2], "1949-12-31");

        // Most frequent first, without the number.
        let options = GoldenOptions { name: vec![GoldenRule::MostFrequent], sex: vec![GoldenRule::Authority], ..GoldenOptions::default() };
        let rows = golden(&options, &mentions).await;
        let find = |p: &str, a: &str| rows.iter().find(|r| r[0] == p && r[1] == a).cloned();
        assert_eq!(find("P2", "name").unwrap()[2..], ["李莉".to_string(), "insured".into(), "most_frequent".into()]);
        assert_eq!(find("P2", "sex"), None, "no record gives it and the number is not asked");
    }

    #[tokio::test]
    async fn when_every_rule_ties_the_founding_record_then_the_order_of_records_decides() {
        let mentions = format!(
            "('P3', 'floating', 'L3', 'new_person', '王芳', NULL, NULL, '2026-10-01', {ID}), \
             ('P3', 'rental', 'Z3', 'same_number', '王方', NULL, NULL, '2026-10-01', {ID}), \
             ('P4', 'rental', 'Z4', 'id_exact', '赵敏', NULL, NULL, '2026-10-01', {ID}), \
             ('P4', 'insured', 'S4', 'id_exact', '赵民', NULL, NULL, '2026-10-01', {ID}), \
             ('P4', 'pension', 'Q4', 'id_exact', '赵民', NULL, NULL, '2026-09-01', {ID})"
        );
        let options = GoldenOptions { name: vec![GoldenRule::Authority, GoldenRule::MostRecent], ..GoldenOptions::default() };
        let rows = golden(&options, &mentions).await;
        let find = |p: &str| rows.iter().find(|r| r[0] == p && r[1] == "name").cloned().unwrap();
        assert_eq!(find("P3")[2..], ["王芳".to_string(), "floating".into(), "founding_record".into()]);
        // Each value's best record is its latest; those tie, and `insured` sorts before `rental`.
        assert_eq!(find("P4")[2..], ["赵民".to_string(), "insured".into(), "record_order".into()]);
    }
}
