// Runs a fixed set of queries against a ClickHouse-compatible endpoint with the official Go client,
// github.com/ClickHouse/clickhouse-go/v2, over both of its protocols (HTTP and native TCP), and
// prints one JSON object per line per case and protocol:
//
//	{"client":"clickhouse-go-http","case":"select1","ok":true,"rows":[[1]]}
//	{"client":"clickhouse-go-native","case":"insert_refused","ok":false,"error":"...","code":164}
//
// Endpoint: CH_HTTP, CH_NATIVE (host:port), CH_USER (default), CH_PASSWORD (empty),
// CH_DATABASE (default). The Grafana plugin statements come from CH_GRAFANA_QUERIES (a path to
// tests/clients/grafana-queries.json; by default looked up next to this program's source).
// Exit code 0 once every case ran, whatever the outcomes; 2 when it could not start.
// Row representation: see ../README.md (64-bit and wider integers are JSON strings).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"
)

const typesSQL = `SELECT
    toUInt64(18446744073709551615) AS u64,
    toInt32(-2147483648) AS i32,
    toFloat64(3.141592653589793) AS f64,
    'héllo "wörld"\n' AS s,
    toDateTime64('2024-01-02 03:04:05.123456789', 9, 'UTC') AS dt64,
    ['a', 'b', ''] AS arr,
    map('k1', 'v1', 'k2', 'v2') AS m,
    CAST(NULL AS Nullable(String)) AS n,
    toLowCardinality('lc') AS lc`

type result struct {
	Client string  `json:"client"`
	Case   string  `json:"case"`
	OK     bool    `json:"ok"`
	Rows   [][]any `json:"rows,omitempty"`
	Error  string  `json:"error,omitempty"`
	Code   *int    `json:"code,omitempty"`
}

type grafanaQuery struct {
	Name string `json:"name"`
	SQL  string `json:"sql"`
}

var out = json.NewEncoder(os.Stdout)

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func emit(client, name string, rows [][]any, err error) {
	r := result{Client: client, Case: name}
	if err != nil {
		r.Error = err.Error()
		if c, ok := errorCode(err); ok {
			r.Code = &c
		}
	} else {
		r.OK = true
		if rows == nil {
			rows = [][]any{}
		}
		r.Rows = rows
	}
	if e := out.Encode(r); e != nil {
		fmt.Fprintln(os.Stderr, "write:", e)
		os.Exit(2)
	}
}

var codeRe = regexp.MustCompile(`(?:Code: |code: )(\d+)`)

func errorCode(err error) (int, bool) {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return int(ex.Code), true
	}
	if m := codeRe.FindStringSubmatch(err.Error()); m != nil {
		c, _ := strconv.Atoi(m[1])
		return c, true
	}
	return 0, false
}

// ---- value normalisation: one JSON representation shared with the Python and JDBC programs ----

func norm(v any) any {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000000000Z")
	case *big.Int:
		if x == nil {
			return nil
		}
		return x.String()
	case big.Int:
		return x.String()
	case decimal.Decimal:
		return x.String()
	case json.RawMessage:
		return string(x)
	}
	rv := reflect.ValueOf(v)
	if st, ok := v.(fmt.Stringer); ok {
		// UUID ([16]byte) and IPv4/IPv6 (net.IP): their text form, not their bytes
		k := rv.Kind()
		if k == reflect.Array || (k == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8) {
			return st.String()
		}
	}
	switch rv.Kind() {
	case reflect.Ptr, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return norm(rv.Elem().Interface())
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return rv.Int()
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return rv.Uint()
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		if rv.Kind() == reflect.Float32 {
			// shortest decimal that round-trips the float32
			g, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
			return g
		}
		return f
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return string(rv.Bytes())
		}
		a := make([]any, rv.Len())
		for i := range a {
			a[i] = norm(rv.Index(i).Interface())
		}
		return a
	case reflect.Map:
		m := make(map[string]any, rv.Len()) // encoding/json writes the keys sorted
		for _, k := range rv.MapKeys() {
			m[fmt.Sprint(norm(k.Interface()))] = norm(rv.MapIndex(k).Interface())
		}
		return m
	case reflect.Struct:
		// ordered maps and the like: fall back to their JSON form
		if b, err := json.Marshal(v); err == nil {
			var g any
			if json.Unmarshal(b, &g) == nil {
				return g
			}
		}
	}
	return fmt.Sprint(v)
}

// ---- running queries ----

func collectConn(rows driver.Rows) ([][]any, error) {
	defer rows.Close()
	types := rows.ColumnTypes()
	var all [][]any
	for rows.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = norm(d)
		}
		all = append(all, row)
	}
	return all, rows.Err()
}

func collectDB(rows *sql.Rows) ([][]any, error) {
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var all [][]any
	for rows.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			st := t.ScanType()
			if st == nil {
				dest[i] = new(any)
			} else {
				dest[i] = reflect.New(st).Interface()
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = norm(d)
		}
		all = append(all, row)
	}
	return all, rows.Err()
}

func query(ctx context.Context, conn driver.Conn, q string, args ...any) ([][]any, error) {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collectConn(rows)
}

func countSum(ctx context.Context, conn driver.Conn, q string) ([][]any, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var n int64
	var sum uint64
	for rows.Next() {
		var v uint64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		n++
		sum += v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return [][]any{{n, strconv.FormatUint(sum, 10)}}, nil
}

type endpoint struct {
	client   string
	protocol clickhouse.Protocol
	addr     string
}

func options(ep endpoint, comp *clickhouse.Compression) *clickhouse.Options {
	return &clickhouse.Options{
		Protocol: ep.protocol,
		Addr:     []string{ep.addr},
		Auth: clickhouse.Auth{
			Database: env("CH_DATABASE", "default"),
			Username: env("CH_USER", "default"),
			Password: os.Getenv("CH_PASSWORD"),
		},
		Compression: comp,
		DialTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second,
		ClientInfo: clickhouse.ClientInfo{
			Products: []struct{ Name, Version string }{{Name: "airdig-client-probe", Version: "1"}},
		},
	}
}

func run(ep endpoint, grafana []grafanaQuery) {
	// No deadline on the standard cases: clickhouse-go turns a context deadline into a
	// max_execution_time setting (int(seconds left + 5)) on every query, which would override the
	// one the `settings` case sets. The Grafana cases below do have one, as the plugin's do.
	ctx := context.Background()
	c := ep.client

	conn, err := clickhouse.Open(options(ep, nil))
	if err != nil {
		emit(c, "connect", nil, err)
		return
	}
	defer conn.Close()

	rows, err := query(ctx, conn, "SELECT 1 AS one")
	emit(c, "select1", rows, err)

	rows, err = query(ctx, conn, "SELECT version()")
	emit(c, "version", rows, err)

	rows, err = query(ctx, conn, "SELECT currentUser(), getSetting('readonly')")
	emit(c, "whoami", rows, err)

	rows, err = query(ctx, conn, "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name")
	emit(c, "tables", rows, err)

	rows, err = query(ctx, conn, typesSQL)
	emit(c, "types", rows, err)

	rows, err = countSum(ctx, conn, "SELECT number FROM numbers(100000)")
	emit(c, "numbers", rows, err)

	// Client-side binding, positional (the clickhouse-go default for `?`).
	rows, err = query(ctx, conn, "SELECT toUInt32(?) + 1 AS x", 41)
	emit(c, "params", rows, err)
	// Client-side binding, named.
	rows, err = query(ctx, conn, "SELECT toUInt32(@n) + 1 AS x", clickhouse.Named("n", 41))
	emit(c, "params_named", rows, err)
	// Server-side parameters ({name:Type}, sent as param_n).
	rows, err = query(clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"n": "41"})),
		conn, "SELECT {n:UInt32} + 1 AS x")
	emit(c, "params_server", rows, err)

	emit(c, "insert_refused", nil, conn.Exec(ctx, "INSERT INTO otel_traces (TraceId) VALUES ('x')"))
	// The batch API: PrepareBatch + Append + Send.
	emit(c, "insert_refused_batch", nil, func() error {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO otel_traces (TraceId)")
		if err != nil {
			return err
		}
		defer b.Abort()
		if err := b.Append("x"); err != nil {
			return err
		}
		return b.Send()
	}())

	emit(c, "ddl_refused", nil, conn.Exec(ctx, "CREATE TABLE airdig_client_probe (x UInt8) ENGINE = Memory"))

	rows, err = query(ctx, conn, "SELECT * FROM file('/etc/hostname', 'LineAsString')")
	emit(c, "file_refused", rows, err)

	// A per-query setting, the way the Grafana plugin passes its custom settings (clickhouse.Settings).
	rows, err = query(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": 30})),
		conn, "SELECT toString(getSetting('max_execution_time')) AS max_execution_time")
	emit(c, "settings", rows, err)

	// LZ4: over HTTP clickhouse-go then asks for compress=1 and reads ClickHouse's compressed-block
	// framing (checksum + header + LZ4 block) of the Native format; over TCP, compressed Data packets.
	rows, err = func() ([][]any, error) {
		lz, err := clickhouse.Open(options(ep, &clickhouse.Compression{Method: clickhouse.CompressionLZ4}))
		if err != nil {
			return nil, err
		}
		defer lz.Close()
		return countSum(ctx, lz, "SELECT number FROM numbers(100000)")
	}()
	emit(c, "lz4", rows, err)

	// The Grafana plugin's statements, through database/sql the way its backend opens connections
	// (pkg/plugin/driver.go buildClickHouseOptions: LZ4 over native, GZIP over HTTP).
	if len(grafana) > 0 {
		comp := clickhouse.CompressionLZ4
		if ep.protocol == clickhouse.HTTP {
			comp = clickhouse.CompressionGZIP
		}
		db := clickhouse.OpenDB(options(ep, &clickhouse.Compression{Method: comp}))
		defer db.Close()
		for _, g := range grafana {
			// sqlds runs each plugin query under context.WithTimeout(queryTimeout), 60 s by default
			// (pkg/plugin/driver.go Settings), so clickhouse-go also sends max_execution_time=64.
			gctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			rows, err := func() ([][]any, error) {
				r, err := db.QueryContext(gctx, g.SQL)
				if err != nil {
					return nil, err
				}
				return collectDB(r)
			}()
			cancel()
			emit(c, "grafana:"+g.Name, rows, err)
		}
	}
}

func loadGrafana() ([]grafanaQuery, error) {
	path := os.Getenv("CH_GRAFANA_QUERIES")
	if path == "" {
		candidates := []string{"grafana-queries.json", "../grafana-queries.json", "tests/clients/grafana-queries.json"}
		if exe, err := os.Executable(); err == nil {
			d := filepath.Dir(exe)
			candidates = append(candidates, filepath.Join(d, "..", "grafana-queries.json"), filepath.Join(d, "..", "..", "grafana-queries.json"))
		}
		for _, p := range candidates {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return nil, errors.New("grafana-queries.json not found; set CH_GRAFANA_QUERIES")
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var qs []grafanaQuery
	if err := json.Unmarshal(b, &qs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return qs, nil
}

func main() {
	httpAddr, nativeAddr := os.Getenv("CH_HTTP"), os.Getenv("CH_NATIVE")
	if httpAddr == "" && nativeAddr == "" {
		fmt.Fprintln(os.Stderr, "set CH_HTTP and/or CH_NATIVE (host:port)")
		os.Exit(2)
	}
	grafana, err := loadGrafana()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var eps []endpoint
	if httpAddr != "" {
		eps = append(eps, endpoint{"clickhouse-go-http", clickhouse.HTTP, httpAddr})
	}
	if nativeAddr != "" {
		eps = append(eps, endpoint{"clickhouse-go-native", clickhouse.Native, nativeAddr})
	}
	for _, ep := range eps {
		run(ep, grafana)
	}
}
