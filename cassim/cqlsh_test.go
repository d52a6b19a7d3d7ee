package cassim

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCqlsh(t *testing.T) {
	l := newLab(t)
	a := l.start(1, t.TempDir(), nil)
	a.waitLog(t, "Starting listening for CQL clients")
	cqlsh := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := CqlshMain(context.Background(), append([]string{l.ip(1), "9042"}, args...), strings.NewReader(stdin), &out, &errb)
		return out.String(), errb.String(), code
	}
	create := "CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
	if out, errs, code := cqlsh("", "-e", create); code != 0 || out != "" || errs != "" {
		t.Errorf("create (%d): %q %q", code, out, errs)
	}
	if _, errs, code := cqlsh("", "-e", create); code != 2 || errs != "<stdin>:1:AlreadyExists: Keyspace 'ks3' already exists\n" {
		t.Errorf("create again (%d): %q", code, errs)
	}
	out, errs, code := cqlsh("USE ks3;\nSELECT keyspace_name, durable_writes, replication FROM system_schema.keyspaces WHERE keyspace_name = 'ks3';\n")
	want := "\n keyspace_name | durable_writes | replication\n" +
		"---------------+----------------+-------------------------------------------------------------------------------------\n" +
		"           ks3 |           True | {'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '3'}\n" +
		"\n(1 rows)\n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("select (%d):\n%s\nwant:\n%s\n%s", code, out, want, errs)
	}
	if _, errs, code := cqlsh("", "-e", "SELECT * FROM ks3.t"); code != 2 || !strings.HasPrefix(errs, "<stdin>:1:InvalidRequest: Error from server: code=2200 [Invalid query] message=\"table ks3.t does not exist") {
		t.Errorf("a user table (%d): %q", code, errs)
	}
	var out2, errb bytes.Buffer
	if code := CqlshMain(context.Background(), []string{"127.0.0.1", "1", "-e", "SELECT * FROM system.local"}, nil, &out2, &errb); code != 1 || out2.String() != "" ||
		errb.String() != "Connection error: ('Unable to connect to any servers', {'127.0.0.1:1': ConnectionRefusedError(111, \"Tried connecting to [('127.0.0.1', 1)]. Last error: Connection refused\")})\n" {
		// Real cqlsh 6.2 (on swarmcass/cassandra-base:5.0.8-2) exits 1 with this on stderr.
		t.Errorf("no server (%d): %q %q", code, out2.String(), errb.String())
	}
}
