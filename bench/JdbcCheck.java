// What bench/jdbc.sh runs: the steps a BI tool takes over JDBC, each reported as it goes.
import java.sql.*;

public class JdbcCheck {
    static int failures = 0;

    interface Step { String run() throws Exception; }

    static void step(String name, Step step) {
        try {
            System.out.println("ok   " + name + ": " + step.run());
        } catch (Exception e) {
            failures++;
            System.out.println("FAIL " + name + ": " + e.getMessage().split("\n")[0]);
        }
    }

    public static void main(String[] args) throws Exception {
        Connection conn = DriverManager.getConnection(args[0], args[1], args[2]);
        System.out.println("ok   connect (SCRAM-SHA-256): " + conn.getMetaData().getDatabaseProductName() + " " + conn.getMetaData().getDatabaseProductVersion());
        DatabaseMetaData meta = conn.getMetaData();
        step("list tables", () -> {
            StringBuilder names = new StringBuilder();
            try (ResultSet rs = meta.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) names.append(rs.getString("TABLE_NAME")).append(' ');
            }
            return names.toString().trim();
        });
        step("list columns of person", () -> {
            int n = 0;
            try (ResultSet rs = meta.getColumns(null, null, "person", "%")) {
                while (rs.next()) n++;
            }
            return n + " columns";
        });
        step("prepared query", () -> {
            try (PreparedStatement ps = conn.prepareStatement("SELECT citizen_id, name FROM person WHERE sex = ? ORDER BY person_key LIMIT 3")) {
                ps.setString(1, "F");
                StringBuilder out = new StringBuilder();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) out.append(rs.getString(1)).append(' ').append(rs.getString(2)).append("; ");
                }
                return out.toString();
            }
        });
        step("refused write", () -> {
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE person");
                return "NOT refused";
            } catch (SQLException e) {
                if (!"42501".equals(e.getSQLState())) throw e;
                return "refused with " + e.getSQLState();
            }
        });
        conn.close();
        System.exit(failures == 0 ? 0 : 1);
    }
}
