# The Splink half of bench/splink_peer.sh: tidies the flattened mentions as a careful analyst
# would, links them with a standard Splink 5 model on DuckDB (train, predict, cluster), prints
# the seconds from creating the linker through clustering, and scores the clusters pairwise
# against the city's truth (used for scoring only, never as a model input).
# Usage: python bench/splink_peer.py MENTIONS.parquet TRUTH_MENTIONS.csv OUT.json
import json
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

MATCH_THRESHOLD = 0.95  # clustering threshold on match probability
U_MAX_PAIRS = 1e6  # pairs sampled to estimate u (Splink's default)
SEED = 7

mentions_path, truth_path, out_path = sys.argv[1:4]
db_api = DuckDBAPI()
con = db_api.duckdb_con

# Tidy: trim, fold full-width characters (NFKC) in ID and name, upper-case a trailing x,
# upgrade 15-digit IDs to 18 (GB 11643), null IDs that are not then 18 characters; the name's
# first character is the surname, the rest the given name. Nothing else.
raw = pq.read_table(mentions_path)
for col, nfkc in [("citizen_id_raw", True), ("name_raw", True), ("sex", False)]:
    values = raw[col].cast(pa.string())
    values = pc.utf8_trim_whitespace(pc.utf8_normalize(values, "NFKC") if nfkc else values)
    raw = raw.set_column(raw.schema.get_field_index(col), col, values)
con.register("raw", raw)
weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
checksum = " + ".join(f"{w} * cast(substr(id17, {i + 1}, 1) AS INT)" for i, w in enumerate(weights))
con.execute(f"CREATE MACRO id18(id17) AS id17 || substr('10X98765432', ({checksum}) % 11 + 1, 1)")
con.execute("""
CREATE TABLE tidy AS
WITH a AS (
  SELECT row_number() OVER () AS unique_id, source, record_key, role,
         regexp_replace(citizen_id_raw, 'x$', 'X') AS id, nullif(name_raw, '') AS name, birth_date,
         nullif(sex, '') AS sex
  FROM raw),
b AS (
  SELECT *, CASE WHEN regexp_full_match(id, '[0-9]{15}')
            THEN id18(substr(id, 1, 6) || '19' || substr(id, 7)) ELSE id END AS id_up
  FROM a)
SELECT unique_id, source, record_key, role,
       CASE WHEN length(id_up) = 18 THEN id_up END AS citizen_id, name,
       left(name, 1) AS surname, nullif(substr(name, 2), '') AS given_name, birth_date, sex
FROM b""")
con.execute("""
CREATE TABLE splink_input AS
SELECT unique_id, citizen_id, name, surname, given_name, birth_date, sex FROM tidy""")
mentions = con.sql("SELECT count(*) FROM tidy").fetchone()[0]

settings = SettingsCreator(
    link_type="dedupe_only",
    blocking_rules_to_generate_predictions=[
        block_on("citizen_id"),
        block_on("name", "birth_date"),
        block_on("surname", "birth_date", "sex"),
    ],
    comparisons=[
        cl.LevenshteinAtThresholds("citizen_id", [1, 2]),
        cl.ExactMatch("name").configure(term_frequency_adjustments=True),
        cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]),
        cl.DateOfBirthComparison("birth_date", input_is_string=False),
        cl.ExactMatch("sex"),
    ],
)

start = time.perf_counter()
linker = Linker(db_api.register("splink_input"), settings, log_level="WARNING")
linker.training.estimate_probability_two_random_records_match(
    [block_on("citizen_id"), block_on("name", "birth_date")], recall=0.9
)
linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("citizen_id"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("name", "birth_date"))
predictions = linker.inference.predict(threshold_match_probability=MATCH_THRESHOLD)
clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
    predictions, threshold_match_probability=MATCH_THRESHOLD
)
seconds = time.perf_counter() - start

# Score: pairs of rows in one cluster against pairs of rows of one person.
con.execute(f"""
CREATE TABLE scored AS
SELECT c.cluster_id, t.person_id
FROM {clusters.physical_name} c JOIN tidy USING (unique_id)
JOIN read_csv('{truth_path}', all_varchar = true) t USING (source, record_key, role)""")
pairs = lambda keys: con.sql(
    f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM scored GROUP BY {keys})"
).fetchone()[0]
predicted, true, correct = pairs("cluster_id"), pairs("person_id"), pairs("cluster_id, person_id")
scored = con.sql("SELECT count(*) FROM scored").fetchone()[0]
assert scored == mentions, f"{mentions - scored} mentions have no truth row"
result = {
    "mentions": mentions,
    "splink_seconds": seconds,
    "predicted_pairs": predicted,
    "true_pairs": true,
    "correct_pairs": correct,
    "precision": correct / predicted if predicted else 1.0,
    "recall": correct / true if true else 1.0,
}
print("  splink: %d mentions, link %.2f s, pairs %d true, %d predicted, %d correct, precision %.6f recall %.6f"
      % (mentions, seconds, true, predicted, correct, result["precision"], result["recall"]))
json.dump(result, open(out_path, "w"))
