//! Pipeline files: `validate` and `run` exit 78 naming the offending key.

mod common;

use common::*;

#[test]
fn bad_pipelines_exit_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("city");
    ok(&["generate", "--persons", "300", "--out", path(&data)]);
    let original = std::fs::read_to_string(PIPELINE).unwrap();
    let cases = [
        (original.replace("authority = true", "authority = true\nauthoritative = true"), "authoritative"),
        (original.replace("mother = \"mother\"", "mother = \"mum\""), "source.birth_certificates.facts.mother"),
        (original.replace("via = \"si_insured\"", "via = \"si_payments\""), "source.si_payments.facts.via"),
        (original.replace("path = \"civil_affairs/cremations.csv\"", "path = \"civil_affairs/none_*.csv\""), "source.cremations.path"),
        (original.replace("name = \"AAC003\"", "name = { column = \"AAC003\", sql = \"x\" }"), "source.si_insured.mention.insured.name"),
        (original.replace("review_weight = 0.0", "review_weight = 9.0"), "linkage.review_weight"),
        (original.replace("amount = \"AAE019\"", "amountt = \"AAE019\""), "unknown key `amountt` for kind `payment`"),
        (original.replace("amount = \"AAE019\"\n", ""), "kind `payment` needs `amount`"),
        (format!("{original}\n[engine]\nmemory_limit_mb = 10\n"), "engine.memory_limit_mb"),
        (format!("{original}\n[engine]\nthread = 2\n"), "unknown field `thread`"),
        (format!("{original}\n[golden]\nname = [\"number\"]\n"), "golden.name"),
        (format!("{original}\n[golden]\nsex = []\n"), "golden.sex"),
        (format!("{original}\n[golden]\nethnicity = [\"newest\"]\n"), "unknown variant `newest`"),
    ];
    for (text, key) in cases {
        let file = dir.path().join("pipeline.toml");
        std::fs::write(&file, text).unwrap();
        let out = pophub(&["validate", path(&file), "--data-root", path(&data)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
    let out = pophub(&["validate", PIPELINE, "--data-root", path(&data)]);
    assert!(out.status.success());

    // Every problem at once, each naming its key.
    let two = original.replace("via = \"si_insured\"", "via = \"si_payments\"").replace("review_weight = 0.0", "review_weight = 9.0");
    let file = dir.path().join("two.toml");
    std::fs::write(&file, two).unwrap();
    let out = pophub(&["validate", path(&file), "--data-root", path(&data)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr.contains("linkage.review_weight") && stderr.contains("source.si_payments.facts.via"), "{stderr}");
}

#[test]
fn the_json_schema_accepts_the_sample_pipeline_and_the_reference_page_has_every_key() {
    // Checked as an editor would: Python's `jsonschema` on the file as `tomllib` reads it.
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("pipeline.schema.json");
    std::fs::write(&schema, ok(&["schema", "pipeline"])).unwrap();
    let original = std::fs::read_to_string(PIPELINE).unwrap();
    let cases = [
        ("sample", original.clone(), ""),
        ("unknown_key", original.replace("authority = true", "authority = true\nauthoritative = true"), "authoritative"),
        ("unknown_fact", original.replace("amount = \"AAE019\"", "amountt = \"AAE019\""), "amountt"),
        ("bad_encoding", original.replace("encoding = \"gb18030\"", "encoding = \"latin1\""), "latin1"),
        ("unknown_engine_key", format!("{original}\n[engine]\nthread = 2\n"), "thread"),
    ];
    for (name, text, _) in &cases {
        std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
    }
    let python = python_with(&["jsonschema==4.23.0"], "import jsonschema");
    let check = "import json, sys, tomllib, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        v = jsonschema.Draft202012Validator(schema)\n\
        for f in sys.argv[2:]:\n\
        \x20   errors = [e.message for e in v.iter_errors(tomllib.load(open(f, 'rb')))]\n\
        \x20   print(json.dumps([f, errors], ensure_ascii=False))\n";
    let files: Vec<String> = cases.iter().map(|(name, _, _)| path(&dir.path().join(format!("{name}.toml"))).to_string()).collect();
    let out = std::process::Command::new(python).args(["-c", check, path(&schema)]).args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<(String, Vec<String>)> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for ((name, _, word), (_, errors)) in cases.iter().zip(&results) {
        if word.is_empty() {
            assert_eq!(errors, &Vec::<String>::new(), "{name}");
        } else {
            assert!(errors.iter().any(|e| e.contains(word)), "{name}: {word} not refused: {errors:?}");
        }
    }

    // The page is generated from the same structs: a key in them and not on the page fails here.
    let page = ok(&["schema", "pipeline", "--format", "markdown"]);
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/pipeline.md")).unwrap();
    assert!(page == committed, "schemas/pipeline.md is out of date: cargo run -- schema pipeline --format markdown > schemas/pipeline.md");
    for key in ["memory_limit_mb", "creates_persons", "row_filter", "max_shrink", "severity", "via", "explode"] {
        assert!(page.contains(&format!("| `{key}` |")), "{key} not on the page");
    }
}

#[test]
fn access_options_are_checked_and_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.toml");
    std::fs::write(&file, "[access]\nquery_memory_mb = 4\n\n[[access.role]]\nname = \"analyst\"\nrow_filter = \"district_code = \"\n\n[[access.role]]\nname = \"x\"\nmasked = [\"iris\"]\n").unwrap();
    let out = pophub(&["serve", "--pipeline", path(&file), "--warehouse", path(dir.path())]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("iris"), "{err}");
    std::fs::write(&file, "[access]\nquery_memory_mb = 4\n\n[[access.role]]\nname = \"analyst\"\nrow_filter = \"district_code = \"\n").unwrap();
    let out = pophub(&["serve", "--pipeline", path(&file), "--warehouse", path(dir.path())]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["access.query_memory_mb", "access.role[0].name", "access.role[0].row_filter"] {
        assert!(err.contains(key), "{key} not in {err}");
    }
}
