package airdig.clients;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a fixed set of queries against a ClickHouse-compatible HTTP endpoint with the official JDBC
 * driver, com.clickhouse:clickhouse-jdbc (unchanged, from Maven Central; version in pom.xml), and
 * prints one JSON object per line per case:
 *
 * <pre>
 * {"client":"clickhouse-jdbc","case":"select1","ok":true,"rows":[[1]]}
 * {"client":"clickhouse-jdbc","case":"insert_refused","ok":false,"error":"...","code":164}
 * </pre>
 *
 * Endpoint: CH_HTTP (host:port), CH_USER (default), CH_PASSWORD (empty), CH_DATABASE (default);
 * URL jdbc:clickhouse://CH_HTTP/CH_DATABASE. Exit code 0 once every case ran, whatever their
 * outcomes; 2 when it could not start. Row representation: see ../README.md (integers of 64 bits
 * or more as decimal strings, narrower ones as numbers; the ClickHouse type of each column comes
 * from ResultSetMetaData.getColumnTypeName).
 */
public final class JdbcProbe {
    static final String CLIENT = "clickhouse-jdbc";

    static final String TYPES_SQL = "SELECT\n"
            + "    toUInt64(18446744073709551615) AS u64,\n"
            + "    toInt32(-2147483648) AS i32,\n"
            + "    toFloat64(3.141592653589793) AS f64,\n"
            + "    'héllo \"wörld\"\\n' AS s,\n"
            + "    toDateTime64('2024-01-02 03:04:05.123456789', 9, 'UTC') AS dt64,\n"
            + "    ['a', 'b', ''] AS arr,\n"
            + "    map('k1', 'v1', 'k2', 'v2') AS m,\n"
            + "    CAST(NULL AS Nullable(String)) AS n,\n"
            + "    toLowCardinality('lc') AS lc";

    static final DateTimeFormatter NS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSS'Z'");
    static final Pattern CODE = Pattern.compile("(?i)\\bcode:\\s*(\\d+)");

    interface Case {
        List<List<Object>> run() throws Exception;
    }

    static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : v;
    }

    // ---- JSON output (no library: the driver's own dependencies stay the only ones) ----

    static void json(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof String) {
            String s = (String) v;
            b.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    default:
                        if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c);
                }
            }
            b.append('"');
        } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Double) {
            b.append(v); // Double.toString is valid JSON once NaN/Infinity are gone (norm turns them into strings)
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) b.append(',');
                first = false;
                json(b, String.valueOf(e.getKey()));
                b.append(':');
                json(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof List) {
            b.append('[');
            boolean first = true;
            for (Object o : (List<?>) v) {
                if (!first) b.append(',');
                first = false;
                json(b, o);
            }
            b.append(']');
        } else {
            json(b, v.toString());
        }
    }

    static void emit(String name, List<List<Object>> rows, Throwable error) {
        Map<String, Object> r = new java.util.LinkedHashMap<>();
        r.put("client", CLIENT);
        r.put("case", name);
        if (error == null) {
            r.put("ok", true);
            r.put("rows", rows == null ? List.of() : rows);
        } else {
            r.put("ok", false);
            StringBuilder msg = new StringBuilder(String.valueOf(error.getMessage()));
            for (Throwable c = error.getCause(); c != null && c != error; c = c.getCause()) {
                if (c.getMessage() != null && !msg.toString().contains(c.getMessage())) msg.append(" | ").append(c.getMessage());
                if (c.getCause() == c) break;
            }
            r.put("error", msg.toString().trim());
            Integer code = errorCode(error);
            if (code != null) r.put("code", code);
        }
        StringBuilder b = new StringBuilder();
        json(b, r);
        System.out.println(b);
        System.out.flush();
    }

    static Integer errorCode(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException && ((SQLException) t).getErrorCode() > 0) return ((SQLException) t).getErrorCode();
            try { // com.clickhouse.client.api.ServerException#getCode, without compiling against it
                Object c = t.getClass().getMethod("getCode").invoke(t);
                if (c instanceof Integer && (Integer) c > 0) return (Integer) c;
            } catch (ReflectiveOperationException | RuntimeException ignored) {
                // not a ServerException
            }
            if (t.getMessage() != null) {
                Matcher m = CODE.matcher(t.getMessage());
                if (m.find()) return Integer.parseInt(m.group(1));
            }
            if (t.getCause() == t) break;
        }
        return null;
    }

    // ---- value normalisation ----

    /** The type without Nullable(...) / LowCardinality(...) around it. */
    static String strip(String t) {
        t = t.trim();
        for (String w : new String[] {"Nullable(", "LowCardinality("}) {
            if (t.startsWith(w) && t.endsWith(")")) return strip(t.substring(w.length(), t.length() - 1));
        }
        return t;
    }

    /** Top-level comma-separated arguments of a type such as Map(K, V) or Tuple(a T, b U). */
    static List<String> args(String t) {
        List<String> out = new ArrayList<>();
        int open = t.indexOf('(');
        if (open < 0) return out;
        int depth = 0, start = open + 1;
        for (int i = open + 1; i < t.length() - 1; i++) {
            char c = t.charAt(i);
            if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == '\'') { while (++i < t.length() && t.charAt(i) != '\'') { if (t.charAt(i) == '\\') i++; } }
            else if (c == ',' && depth == 0) { out.add(t.substring(start, i).trim()); start = i + 1; }
        }
        out.add(t.substring(start, t.length() - 1).trim());
        return out;
    }

    static boolean wideInt(String t) {
        return t.matches("U?Int(64|128|256)");
    }

    static Object norm(Object v, String chType) throws SQLException {
        if (v == null) return null;
        String t = chType == null ? "" : strip(chType);
        if (v instanceof Array) v = ((Array) v).getArray();
        if (v instanceof Boolean) return v;
        if (v instanceof BigInteger || v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            if (wideInt(t)) return v.toString();
            return ((Number) v).longValue();
        }
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (v instanceof Float) d = Double.parseDouble(v.toString()); // shortest form of the float
            if (Double.isNaN(d)) return "NaN";
            if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
            return d;
        }
        if (v instanceof BigDecimal) return ((BigDecimal) v).toPlainString();
        if (v instanceof String) return v;
        if (v instanceof byte[]) return new String((byte[]) v, java.nio.charset.StandardCharsets.UTF_8);
        if (v instanceof ZonedDateTime) return NS.format(((ZonedDateTime) v).withZoneSameInstant(ZoneOffset.UTC));
        if (v instanceof OffsetDateTime) return NS.format(((OffsetDateTime) v).atZoneSameInstant(ZoneOffset.UTC));
        if (v instanceof Instant) return NS.format(((Instant) v).atZone(ZoneOffset.UTC));
        if (v instanceof Timestamp) return NS.format(((Timestamp) v).toInstant().atZone(ZoneOffset.UTC));
        if (v instanceof LocalDateTime) return NS.format((LocalDateTime) v); // as the driver gave it; see README
        if (v instanceof LocalDate || v instanceof java.sql.Date) return v.toString();
        if (v instanceof Map) {
            List<String> kv = args(t);
            String kt = kv.size() == 2 ? kv.get(0) : null, vt = kv.size() == 2 ? kv.get(1) : null;
            TreeMap<String, Object> m = new TreeMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) m.put(String.valueOf(norm(e.getKey(), kt)), norm(e.getValue(), vt));
            return m;
        }
        List<Object> items = null;
        if (v instanceof Object[]) items = java.util.Arrays.asList((Object[]) v);
        else if (v instanceof Collection) items = new ArrayList<>((Collection<?>) v);
        else if (v.getClass().isArray()) {
            items = new ArrayList<>();
            for (int i = 0; i < java.lang.reflect.Array.getLength(v); i++) items.add(java.lang.reflect.Array.get(v, i));
        }
        if (items != null) {
            List<String> a = args(t);
            boolean tuple = t.startsWith("Tuple(");
            List<Object> out = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) {
                String et = null;
                if (tuple && i < a.size()) {
                    String e = a.get(i); // "name Type" or "Type"
                    int sp = e.indexOf(' ');
                    et = sp > 0 && !e.substring(0, sp).contains("(") ? e.substring(sp + 1) : e;
                } else if (!tuple && a.size() == 1) {
                    et = a.get(0);
                }
                out.add(norm(items.get(i), et));
            }
            return out;
        }
        return v.toString();
    }

    static List<List<Object>> rows(ResultSet rs) throws SQLException {
        try (rs) {
            ResultSetMetaData md = rs.getMetaData();
            int n = md.getColumnCount();
            List<List<Object>> out = new ArrayList<>();
            while (rs.next()) {
                List<Object> row = new ArrayList<>(n);
                for (int i = 1; i <= n; i++) {
                    String t = md.getColumnTypeName(i);
                    // getObject(i) / getTimestamp(i) give a java.sql.Timestamp holding the column's
                    // wall-clock time in the JVM's zone (off by the zone difference unless the JVM
                    // runs in the column's zone); the JDBC 4.2 getObject(i, ZonedDateTime.class) is exact.
                    Object v = strip(t).startsWith("DateTime") ? rs.getObject(i, ZonedDateTime.class) : rs.getObject(i);
                    row.add(norm(v, t));
                }
                out.add(row);
            }
            return out;
        }
    }

    public static void main(String[] argv) {
        String http = System.getenv("CH_HTTP");
        if (http == null || http.isEmpty()) {
            System.err.println("set CH_HTTP (host:port)");
            System.exit(2);
        }
        String url = "jdbc:clickhouse://" + http + "/" + env("CH_DATABASE", "default");
        Properties props = new Properties();
        props.setProperty("user", env("CH_USER", "default"));
        props.setProperty("password", System.getenv().getOrDefault("CH_PASSWORD", ""));
        props.setProperty("client_name", "airdig-client-probe");

        String[] names = {"select1", "version", "whoami", "tables", "types", "numbers", "params", "insert_refused",
                "insert_refused_batch", "ddl_refused", "file_refused", "settings", "settings_query_timeout"};
        Connection conn;
        try {
            conn = DriverManager.getConnection(url, props);
        } catch (Throwable e) {
            emit("connect", null, e);
            for (String n : names) emit(n, null, e);
            System.exit(0);
            return;
        }

        Map<String, Case> cases = new java.util.LinkedHashMap<>();
        cases.put("select1", () -> query(conn, "SELECT 1 AS one"));
        cases.put("version", () -> query(conn, "SELECT version()"));
        cases.put("whoami", () -> query(conn, "SELECT currentUser(), getSetting('readonly')"));
        cases.put("tables", () -> query(conn, "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"));
        cases.put("types", () -> query(conn, TYPES_SQL));
        cases.put("numbers", () -> {
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT number FROM numbers(100000)")) {
                long n = 0;
                BigInteger sum = BigInteger.ZERO;
                while (rs.next()) {
                    n++;
                    sum = sum.add(BigInteger.valueOf(rs.getLong(1)));
                }
                List<Object> row = new ArrayList<>();
                row.add(n);
                row.add(sum.toString());
                return List.of(row);
            }
        });
        cases.put("params", () -> {
            try (PreparedStatement ps = conn.prepareStatement("SELECT toUInt32(?) + 1 AS x")) {
                ps.setInt(1, 41);
                return rows(ps.executeQuery());
            }
        });
        cases.put("insert_refused", () -> update(conn, "INSERT INTO otel_traces (TraceId) VALUES ('x')"));
        cases.put("insert_refused_batch", () -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO otel_traces (TraceId) VALUES (?)")) {
                ps.setString(1, "x");
                ps.addBatch();
                ps.executeBatch();
                return List.of();
            }
        });
        cases.put("ddl_refused", () -> update(conn, "CREATE TABLE airdig_client_probe (x UInt8) ENGINE = Memory"));
        cases.put("file_refused", () -> query(conn, "SELECT * FROM file('/etc/hostname', 'LineAsString')"));
        // Server settings go in connection properties prefixed clickhouse_setting_ (DriverProperties /
        // ClientConfigProperties.serverSetting); sent with every query of that connection.
        cases.put("settings", () -> {
            Properties p = new Properties();
            p.putAll(props);
            p.setProperty("clickhouse_setting_max_execution_time", "30");
            try (Connection c = DriverManager.getConnection(url, p)) {
                return query(c, "SELECT toString(getSetting('max_execution_time')) AS max_execution_time");
            }
        });
        // Statement.setQueryTimeout: in this driver a client-side wait only (not sent to the server).
        cases.put("settings_query_timeout", () -> {
            try (Statement st = conn.createStatement()) {
                st.setQueryTimeout(30);
                return rows(st.executeQuery("SELECT toString(getSetting('max_execution_time')) AS max_execution_time"));
            }
        });

        for (Map.Entry<String, Case> e : cases.entrySet()) {
            try {
                emit(e.getKey(), e.getValue().run(), null);
            } catch (Throwable t) {
                emit(e.getKey(), null, t);
            }
        }
        try {
            conn.close();
        } catch (SQLException ignored) {
            // closing only
        }
        System.exit(0);
    }

    static List<List<Object>> query(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            return rows(st.executeQuery(sql));
        }
    }

    static List<List<Object>> update(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.executeUpdate(sql);
            return List.of();
        }
    }
}
