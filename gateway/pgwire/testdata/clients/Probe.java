// Probe is a prototype's-eye view of sandgate through the PostgreSQL JDBC
// driver: it prints key=value lines that TestJDBC checks.
// Usage: java -cp postgresql.jar Probe.java URL USER PASSWORD
import java.sql.*;
import java.util.*;

public class Probe {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", args[1]);
        p.setProperty("password", args[2]);
        p.setProperty("sslmode", "disable");
        try (Connection c = DriverManager.getConnection(args[0], p)) {
            // The catalog queries JDBC's DatabaseMetaData makes.
            DatabaseMetaData md = c.getMetaData();
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            System.out.println("tables=" + String.join(",", tables));
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "wards", null)) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME"));
            }
            System.out.println("wards_columns=" + String.join(",", cols));

            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("select patient_id, nhs_number from patients order by patient_id")) {
                List<String> v = new ArrayList<>();
                while (rs.next()) v.add(rs.getInt(1) + ":" + rs.getString(2));
                System.out.println("patients=" + String.join(",", v));
            }
            // Past prepareThreshold (5) the driver switches to a named
            // server-side statement and binary results.
            try (PreparedStatement ps = c.prepareStatement("select name, ward_id from wards where ward_id = ?")) {
                String last = "";
                for (int i = 0; i < 7; i++) {
                    ps.setInt(1, 1 + i % 2);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        last = rs.getString(1) + "/" + rs.getInt(2);
                    }
                }
                System.out.println("prepared_last=" + last);
            }
            try (Statement s = c.createStatement()) {
                s.executeQuery("select family_name from patients");
                System.out.println("denied=no");
            } catch (SQLException e) {
                System.out.println("denied=" + e.getSQLState());
                System.out.println("denied_names_column=" + e.getMessage().contains("family_name"));
            }
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select count(*) from wards")) {
                rs.next();
                System.out.println("after_denial=" + rs.getInt(1));
            }
            if (args.length > 3 && args[3].equals("write")) {
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement("insert into notes (note_id, patient_id, body) values (?, ?, ?)")) {
                    ps.setInt(1, 900); ps.setInt(2, 1); ps.setString(3, "from jdbc");
                    ps.executeUpdate();
                }
                c.rollback();
                try (PreparedStatement ps = c.prepareStatement("insert into notes (note_id, patient_id, body) values (?, ?, ?)")) {
                    ps.setInt(1, 901); ps.setInt(2, 1); ps.setString(3, "from jdbc");
                    ps.executeUpdate();
                }
                c.commit();
                c.setAutoCommit(true);
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select string_agg(note_id::text, ',') from notes where body = 'from jdbc'")) {
                    rs.next();
                    System.out.println("notes=" + rs.getString(1));
                }
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select count(*) from patients")) {
                    rs.next();
                    System.out.println("patients_visible=" + rs.getInt(1));
                }
            }
        }
    }
}
