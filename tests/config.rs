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

    // The options reference comes from the declarations.
    let reference = ok(&["validate", "--options"]);
    for line in ["[linkage]", "match_weight = 6.0", "[engine]", "memory_limit_mb = 8192", "[source.drift]", "max_shrink = 0.5", "missing_column = Stop", "batch_rows = 65536"] {
        assert!(reference.contains(line), "{line}: {reference}");
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
