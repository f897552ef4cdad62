"""Load for bench/serve.sh: CLIENTS threads, each its own connection, each running STATEMENTS
statements drawn in turn from three kinds (or only the comma-separated KINDS given): a person profile (person_profile(ID)), a voter-roll
count of a district (adults, living, registered there), and a join (a person's houses). Prints
errors, throughput and latency percentiles per kind and overall."""
import random, sys, threading, time
import psycopg

port, ids_file, districts, clients, statements = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5])
only = sys.argv[6].split(",") if len(sys.argv) > 6 else None
ids = [line.strip() for line in open(ids_file) if line.strip()]
KINDS = {
    "profile": lambda r: f"SELECT section, item, value FROM person_profile('{r.choice(ids)}')",
    "voter_roll_count": lambda r: (
        "SELECT COUNT(*) FROM person WHERE district_code = '%s' AND death_date IS NULL "
        "AND register_status = 'normal' AND birth_date IS NOT NULL" % r.choice(districts)
    ),
    "join": lambda r: (
        "SELECT ph.relation, h.house_key, h.floor_area FROM person p JOIN person_house ph ON ph.person_key = p.person_key "
        "JOIN house h ON h.house_key = ph.house_key WHERE p.person_key = (SELECT value FROM person_profile('%s') WHERE section = 'person' AND item = 'person_key' LIMIT 1)" % r.choice(ids)
    ),
}
if only:
    KINDS = {k: v for k, v in KINDS.items() if k in only}
latencies = {k: [] for k in KINDS}
errors = []
lock = threading.Lock()

def client(n):
    r = random.Random(n)
    try:
        conn = psycopg.connect(host="127.0.0.1", port=port, user="bench", password="bench analyst pass", dbname="pophub", sslmode="disable", autocommit=True)
    except Exception as e:
        with lock:
            errors.append(f"connect: {e}")
        return
    kinds = list(KINDS)
    for i in range(statements):
        kind = kinds[(i + n) % len(kinds)]
        sql = KINDS[kind](r)
        started = time.perf_counter()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, prepare=False)
                cur.fetchall()
            elapsed = time.perf_counter() - started
            with lock:
                latencies[kind].append(elapsed)
        except Exception as e:
            with lock:
                errors.append(f"{kind}: {e}")
    conn.close()

started = time.perf_counter()
threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - started

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000 if values else float("nan")

done = sum(len(v) for v in latencies.values())
print(f"  {clients} clients x {statements} statements: {done} ok, {len(errors)} errors, {wall:.1f} s, {done / wall:.1f} statements/s")
for kind, values in list(latencies.items()) + [("all", [x for v in latencies.values() for x in v])]:
    print(f"  {kind:>18}: n={len(values):5d}  p50 {pct(values, 50):7.1f} ms  p95 {pct(values, 95):7.1f} ms  p99 {pct(values, 99):7.1f} ms")
for e in errors[:5]:
    print("  error:", e)
sys.exit(1 if errors else 0)
