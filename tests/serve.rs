//! The SQL server end to end, with real clients: `psql` (Debian's `postgresql-client`; `.ci/run`
//! installs it when missing) and Python `psycopg` (in a virtual environment the test makes).
//! Each test starts `pophub serve` on a loopback port over a generated warehouse and stops it.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PSYCOPG: &[&str] = &["psycopg[binary]==3.3.9"];

/// A running `pophub serve`, stopped (SIGTERM) when dropped.
struct Served {
    child: Option<Child>,
    port: u16,
}

impl Served {
    fn start(warehouse: &Path, extra: &[&str]) -> Served {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_pophub"))
            .args(["serve", "--warehouse", path(warehouse), "--listen", &listen])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("pophub serve starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "pophub serve did not listen on {listen}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Served { child: Some(child), port }
    }

    fn psql(&self, user: &str, password: &str, sql: &str) -> Output {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user, "-d", "pophub", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGSSLMODE", "disable")
            .env("PGCONNECT_TIMEOUT", "20")
            .output()
            .expect("psql runs (install postgresql-client)")
    }

    /// Rows of a query that must succeed, `|`-separated fields.
    fn rows(&self, user: &str, password: &str, sql: &str) -> Vec<String> {
        let out = self.psql(user, password, sql);
        assert!(out.status.success(), "{user}: {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
    }

    /// Stops the server as Ctrl-C would, and returns what it said.
    fn stop(mut self) -> (bool, String) {
        let child = self.child.take().unwrap();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `pophub user add` with the password on standard input.
fn user_add(warehouse: &Path, name: &str, role: &str, password: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pophub"))
        .args(["user", "add", name, "--role", role, "--warehouse", path(warehouse)])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn add_user(warehouse: &Path, name: &str, role: &str, password: &str) {
    let out = user_add(warehouse, name, role, password, &[]);
    assert!(out.status.success(), "user add: {}", String::from_utf8_lossy(&out.stderr));
}

fn is_masked_id(id: &str) -> bool {
    id.len() == 18 && id[..6].chars().all(|c| c.is_ascii_digit()) && &id[6..14] == "********"
}

fn is_whole_id(id: &str) -> bool {
    id.len() == 18 && !id.contains('*')
}

#[test]
fn users_store_verifiers_only_and_logins_are_checked() {
    let city = city(1500, 41);
    let w = &city.warehouse;
    // No user until one is added, and no default superuser.
    assert!(ok(&["user", "list", "--warehouse", path(w)]).contains("no user"));
    add_user(w, "ana", "analyst", "analyst pass 1");
    let users = std::fs::read_to_string(w.join("_access/users.json")).unwrap();
    assert!(users.contains("stored_key") && !users.contains("analyst pass 1"));
    let out = pophub(&["user", "add", "x", "--role", "superuser", "--warehouse", path(w)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the roles are admin, analyst, auditor"));

    let server = Served::start(w, &[]);
    assert_eq!(server.rows("ana", "analyst pass 1", "SELECT 1"), ["1"]);
    for (user, password) in [("ana", "wrong password"), ("nobody", "analyst pass 1"), ("postgres", "postgres")] {
        let out = server.psql(user, password, "SELECT 1");
        assert!(!out.status.success(), "{user} logged in");
        assert!(String::from_utf8_lossy(&out.stderr).contains("password authentication failed"), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // psql's Ctrl-C sends a cancel request for its connection: the running statement stops at
    // once (long before the 60 s statement timeout) and the server goes on serving.
    let running = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "ana", "-d", "pophub", "-X", "-c", "SELECT COUNT(*) FROM generate_series(1, 100000000000)"])
        .env("PGPASSWORD", "analyst pass 1")
        .env("PGSSLMODE", "disable")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let asked = Instant::now();
    Command::new("kill").args(["-INT", &running.id().to_string()]).status().unwrap();
    let out = running.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("canceling statement due to user request"), "{said}");
    assert!(asked.elapsed() < Duration::from_secs(20), "cancelled in {:?}", asked.elapsed());
    assert_eq!(server.rows("ana", "analyst pass 1", "SELECT 2"), ["2"]);
    // A removed user's next login is refused without a restart.
    ok(&["user", "remove", "ana", "--warehouse", path(w)]);
    assert!(!server.psql("ana", "analyst pass 1", "SELECT 1").status.success());
    let (stopped, said) = server.stop();
    assert!(stopped && said.contains("audit log flushed"), "{said}");
}

#[test]
fn roles_see_masked_or_whole_data_on_every_path_and_writes_are_refused() {
    let city = city(1500, 41);
    let w = &city.warehouse;
    add_user(w, "ana", "analyst", "analyst pass 1");
    add_user(w, "root", "admin", "admin pass 12");
    add_user(w, "aud", "auditor", "auditor pass 1");
    let server = Served::start(w, &[]);
    let ana = |sql: &str| server.rows("ana", "analyst pass 1", sql);

    // A plain query: ID numbers keep region and last four, names the surname, addresses stop at the road.
    let rows = ana("SELECT citizen_id, name, registered_address FROM person WHERE citizen_id IS NOT NULL AND registered_address IS NOT NULL ORDER BY person_key LIMIT 20");
    assert_eq!(rows.len(), 20);
    for row in &rows {
        let f: Vec<&str> = row.split('|').collect();
        assert!(is_masked_id(f[0]), "{row}");
        assert!(f[1].ends_with('*') || f[1].chars().count() == 1, "{row}");
        assert!(f[2].ends_with("***"), "{row}");
    }
    // Households' addresses too; relations hold only keys, seen whole.
    let addresses = ana("SELECT address FROM household WHERE address IS NOT NULL ORDER BY household_no LIMIT 20");
    assert_eq!(addresses.len(), 20);
    assert!(addresses.iter().all(|a| a.ends_with("***")), "{addresses:?}");
    assert!(ana("SELECT DISTINCT relation FROM relation").contains(&"spouse_of".to_string()));
    let admin = server.rows("root", "admin pass 12", "SELECT citizen_id FROM person WHERE citizen_id IS NOT NULL ORDER BY person_key LIMIT 20");
    assert!(admin.iter().all(|id| is_whole_id(id)), "{admin:?}");
    // The same persons: masked values are the whole values masked.
    for (masked, whole) in rows.iter().zip(&admin) {
        assert_eq!(&masked[..6], &whole[..6]);
        assert_eq!(&masked[14..18], &whole[14..18]);
    }
    // A join, a function over a masked column, a view of the catalog.
    for id in ana("SELECT s.citizen_id_raw FROM person p JOIN person_source s ON s.person_key = p.person_key WHERE length(s.citizen_id_raw) = 18 LIMIT 5") {
        assert!(id.contains("********"), "{id}");
    }
    assert_eq!(ana("SELECT DISTINCT substr(citizen_id, 7, 8) FROM person WHERE length(citizen_id) = 18"), ["********"]);
    assert!(ana("SELECT DISTINCT CAST(birth_date AS VARCHAR) FROM person WHERE birth_date IS NOT NULL LIMIT 3").iter().all(|d| d.ends_with("-**-**")));
    // A cursor.
    let fetched = ana("BEGIN; DECLARE c CURSOR FOR SELECT citizen_id FROM person WHERE citizen_id IS NOT NULL; FETCH 3 FROM c; CLOSE c; COMMIT;");
    let ids: Vec<&String> = fetched.iter().filter(|l| l.len() == 18).collect();
    assert_eq!(ids.len(), 3, "{fetched:?}");
    assert!(ids.iter().all(|id| is_masked_id(id)));
    // COPY … TO STDOUT.
    let copied = ana("COPY (SELECT citizen_id, name FROM person WHERE citizen_id IS NOT NULL LIMIT 4) TO STDOUT WITH (FORMAT csv, HEADER)");
    assert_eq!(copied[0], "citizen_id,name");
    assert_eq!(copied.len(), 5);
    assert!(copied[1..].iter().all(|l| is_masked_id(l.split(',').next().unwrap())), "{copied:?}");
    // The person profile through SQL, masked for the analyst and whole for the admin.
    let id = &admin[0];
    let profile = ana(&format!("SELECT section, item, value FROM person_profile('{id}') WHERE section = 'person' AND item = 'citizen_id'"));
    assert_eq!(profile.len(), 1);
    assert!(is_masked_id(profile[0].split('|').nth(2).unwrap()), "{profile:?}");
    let profile = server.rows("root", "admin pass 12", &format!("SELECT value FROM person_profile('{id}') WHERE section = 'person' AND item = 'citizen_id'"));
    assert_eq!(&profile, &[id.clone()]);

    // Refused for every role, with 42501, leaving no file behind.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let refused = [
        format!("COPY person TO '{}'", target.display()),
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        format!("CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '{}'", target.display()),
        "CREATE TABLE t AS SELECT * FROM person".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "DROP TABLE person".to_string(),
        "INSERT INTO person SELECT * FROM person".to_string(),
        "DELETE FROM person".to_string(),
        "UPDATE person SET name = 'x'".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "COPY person FROM '/etc/hostname'".to_string(),
    ];
    for (user, password) in [("ana", "analyst pass 1"), ("root", "admin pass 12")] {
        for sql in &refused {
            let out = server.psql(user, password, sql);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && err.contains("42501"), "{user}: {sql}: {err}");
        }
    }
    assert!(!target.exists());
    assert_eq!(server.rows("root", "admin pass 12", "SELECT COUNT(*) FROM person").len(), 1);

    // The auditor sees the audit log and row counts, and no published table.
    let aud = |sql: &str| server.rows("aud", "auditor pass 1", sql);
    let out = server.psql("aud", "auditor pass 1", "SELECT COUNT(*) FROM person");
    assert!(String::from_utf8_lossy(&out.stderr).contains("42P01"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(aud("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'person'"), ["0"]);
    assert_eq!(aud("SELECT COUNT(*) FROM pg_catalog.pg_class WHERE relname = 'person'"), ["0"]);
    assert!(aud("SELECT COUNT(*) FROM table_rows WHERE table_name = 'person'") == ["1"]);
    let audited = aud("SELECT user_name, role, rows, outcome FROM audit_log WHERE event = 'statement' AND statement LIKE '%ORDER BY person_key LIMIT 20%'");
    assert!(audited.contains(&"ana|analyst|20|ok".to_string()), "{audited:?}");
    assert!(audited.contains(&"root|admin|20|ok".to_string()), "{audited:?}");
    let refusals = aud("SELECT COUNT(*) FROM audit_log WHERE outcome = 'refused' AND sqlstate = '42501'");
    assert_eq!(refusals, [(2 * refused.len()).to_string()]);
    // Nobody writes the audit log.
    let out = server.psql("root", "admin pass 12", "DELETE FROM audit_log");
    assert!(String::from_utf8_lossy(&out.stderr).contains("42501"));
    // The analyst does not see it.
    assert!(!server.psql("ana", "analyst pass 1", "SELECT COUNT(*) FROM audit_log").status.success());
    let (stopped, _) = server.stop();
    assert!(stopped);
}

#[test]
fn psycopg_prepared_statements_cursors_and_copy_are_masked() {
    let python = python_with(PSYCOPG, "import psycopg");
    let city = city(1500, 41);
    let w = &city.warehouse;
    add_user(w, "ana", "analyst", "analyst pass 1");
    let server = Served::start(w, &[]);
    let script = r#"
import sys, psycopg
conn = psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="ana", password="analyst pass 1", dbname="pophub", sslmode="disable")
out = []
with conn.cursor() as cur:
    cur.execute("SELECT citizen_id, name FROM person WHERE sex = %s AND citizen_id IS NOT NULL ORDER BY person_key LIMIT 3", ("M",), prepare=True)
    out += [r[0] for r in cur.fetchall()]
    cur.execute("SELECT citizen_id FROM person WHERE sex = %s AND citizen_id IS NOT NULL ORDER BY person_key LIMIT 3", ("F",), prepare=True)
    out += [r[0] for r in cur.fetchall()]
with conn.cursor(name="server_side") as cur:
    cur.execute("SELECT citizen_id FROM person WHERE citizen_id IS NOT NULL")
    out += [r[0] for r in cur.fetchmany(2)]
conn.commit()
with conn.cursor() as cur:
    with cur.copy("COPY (SELECT citizen_id FROM person WHERE citizen_id IS NOT NULL LIMIT 2) TO STDOUT") as copy:
        for row in copy.rows():
            out.append(row[0])
print("\n".join(out))
"#;
    let out = Command::new(&python).args(["-c", script, &server.port.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(ids.iter().all(|id| is_masked_id(id)), "{ids:?}");
}

#[test]
fn a_new_night_is_served_without_a_restart() {
    let city = city(1500, 41);
    let w = &city.warehouse;
    add_user(w, "root", "admin", "admin pass 12");
    let server = Served::start(w, &[]);
    assert_eq!(server.rows("root", "admin pass 12", "SELECT DISTINCT night FROM table_rows"), ["1"]);
    let week = generated(1500, 41, 8);
    ok(&["run", PIPELINE, "--data-root", path(&week), "--warehouse", path(w), "--as-of", "2026-11-08"]);
    assert_eq!(server.rows("root", "admin pass 12", "SELECT DISTINCT night FROM table_rows"), ["2"]);
    let persons = sql_value(w, None, "SELECT COUNT(*) FROM person");
    assert_eq!(server.rows("root", "admin pass 12", "SELECT COUNT(*) FROM person"), [persons]);
}

#[test]
fn limits_and_declared_roles_hold() {
    let city = city(1500, 41);
    let w = &city.warehouse;
    let district = sql_value(w, None, "SELECT district_code FROM person WHERE district_code IS NOT NULL GROUP BY district_code ORDER BY COUNT(*) DESC LIMIT 1");
    let access = city.dir.path().join("access.toml");
    std::fs::write(
        &access,
        format!(
            "[access]\nstatement_timeout_ms = 1500\nanalyst_max_rows = 10\nmax_connections = 3\n\n\
             [[access.role]]\nname = \"district_clerk\"\ntables = [\"person\", \"person_house\", \"household\"]\nmasked = [\"citizen_id\"]\nrow_filter = \"district_code = '{district}'\"\n"
        ),
    )
    .unwrap();
    // A role the pipeline does not declare is refused at `user add`; a declared one is accepted.
    assert!(!user_add(w, "clerk", "district_clerk", "clerk pass 12", &[]).status.success());
    let out = user_add(w, "clerk", "district_clerk", "clerk pass 12", &["--pipeline", path(&access)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    add_user(w, "ana", "analyst", "analyst pass 1");
    let server = Served::start(w, &["--pipeline", path(&access)]);

    // The analyst's row limit: 54000 past it, fine within it.
    let out = server.psql("ana", "analyst pass 1", "SELECT person_key FROM person");
    assert!(String::from_utf8_lossy(&out.stderr).contains("54000"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.rows("ana", "analyst pass 1", "SELECT person_key FROM person LIMIT 10").len(), 10);
    // The statement timeout: 57014.
    let out = server.psql("ana", "analyst pass 1", "SELECT COUNT(*) FROM generate_series(1, 100000000000)");
    assert!(String::from_utf8_lossy(&out.stderr).contains("57014"), "{}", String::from_utf8_lossy(&out.stderr));

    // The declared role: its tables only, its district only, only the ID number masked.
    let clerk = |sql: &str| server.rows("clerk", "clerk pass 12", sql);
    assert_eq!(clerk("SELECT COUNT(DISTINCT district_code) FROM person"), ["1"]);
    assert_eq!(clerk("SELECT DISTINCT district_code FROM person"), [district.clone()]);
    let persons = sql_value(w, None, &format!("SELECT COUNT(*) FROM person WHERE district_code = '{district}'"));
    assert_eq!(clerk("SELECT COUNT(*) FROM person"), [persons]);
    let row = clerk("SELECT citizen_id, name FROM person WHERE citizen_id IS NOT NULL LIMIT 1").remove(0);
    let (id, name) = row.split_once('|').unwrap();
    assert!(is_masked_id(id) && !name.contains('*'), "{row}");
    let outside = sql_value(w, None, &format!("SELECT COUNT(*) FROM person_house ph JOIN person p ON p.person_key = ph.person_key WHERE p.district_code = '{district}'"));
    assert_eq!(clerk("SELECT COUNT(*) FROM person_house"), [outside]);
    // Households by their head's district.
    let households = sql_value(w, None, &format!("SELECT COUNT(*) FROM household h JOIN person p ON p.person_key = h.head_key WHERE p.district_code = '{district}'"));
    assert_eq!(clerk("SELECT COUNT(*) FROM household"), [households]);
    let out = server.psql("clerk", "clerk pass 12", "SELECT COUNT(*) FROM pension_payment");
    assert!(String::from_utf8_lossy(&out.stderr).contains("42P01"));

    // The connection limit: the fourth connection at once is refused with 53300.
    let python = python_with(PSYCOPG, "import psycopg");
    let script = r#"
import sys, psycopg
held = [psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="ana", password="analyst pass 1", dbname="pophub", sslmode="disable") for _ in range(3)]
try:
    psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="ana", password="analyst pass 1", dbname="pophub", sslmode="disable")
    print("fourth connected")
except psycopg.OperationalError as e:
    print("refused:", e)
"#;
    let out = Command::new(&python).args(["-c", script, &server.port.to_string()]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("refused") && said.contains("too many connections"), "{said} {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tls_is_served_and_can_be_required() {
    let city = city(1500, 41);
    let w = &city.warehouse;
    add_user(w, "ana", "analyst", "analyst pass 1");
    let (cert, key) = (city.dir.path().join("cert.pem"), city.dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", path(&key), "-out", path(&cert)])
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = Served::start(w, &["--tls-cert", path(&cert), "--tls-key", path(&key), "--require-tls"]);
    let with_tls = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "ana", "-d", "pophub", "-X", "-A", "-t", "-c", "SELECT 1"])
        .env("PGPASSWORD", "analyst pass 1")
        .env("PGSSLMODE", "require")
        .output()
        .unwrap();
    assert!(with_tls.status.success(), "{}", String::from_utf8_lossy(&with_tls.stderr));
    let out = server.psql("ana", "analyst pass 1", "SELECT 1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"), "{}", String::from_utf8_lossy(&out.stderr));
}
