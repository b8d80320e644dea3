package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/warden-dev/warden/bench/peers/workload"
)

func TestTableMediansAndRatios(t *testing.T) {
	rec := func(run int, sys string, rate float64) Record {
		return Record{Run: run, System: sys, Workload: "write", Unit: "writes/s", Clients: 1,
			Result: workload.Result{Rate: rate, P50ms: 1000 / rate}}
	}
	recs := []Record{
		rec(1, "zookeeper", 100), rec(2, "zookeeper", 300), rec(3, "zookeeper", 200),
		rec(1, "etcd", 400),
		{Run: 1, System: "etcd", Workload: "read", Clients: 1, Result: workload.Result{Rate: 5, Errors: 2}},
		rec(1, "warden/leader", 800), rec(2, "warden/leader", 900), rec(3, "warden/leader", 100),
		{Run: 1, System: "warden/follower", Workload: "write", Clients: 1, Error: "cluster did not start\nmore"},
	}
	var b bytes.Buffer
	Table(&b, recs, []string{"zookeeper", "etcd", "warden/leader", "warden/follower"})
	out := b.String()
	var rateRow string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "writes/s") {
			rateRow = line
		}
	}
	// Medians 200, 400, 800; best peer 400, so the ratio is 2.
	f := strings.Fields(rateRow)
	want := []string{"write", "1", "writes/s", "200", "400", "800", "error", "2", "-"}
	if strings.Join(f, " ") != strings.Join(want, " ") {
		t.Fatalf("rate row %q, want %q\n%s", f, want, out)
	}
	if !strings.Contains(out, "failed operations: etcd read clients=1: 2 in 1 run(s)") {
		t.Fatalf("no failed operations line:\n%s", out)
	}
	if !strings.Contains(out, "error: warden/follower write clients=1: cluster did not start\n") {
		t.Fatalf("no error line:\n%s", out)
	}
}

func TestBestPeerLowerIsBetter(t *testing.T) {
	v, ok := bestPeer(map[string]float64{"zookeeper": 3, "etcd": 2, "warden/leader": 1}, []string{"zookeeper", "etcd"}, false)
	if !ok || v != 2 {
		t.Fatalf("best %v %v, want 2", v, ok)
	}
}
