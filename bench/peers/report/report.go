// Package report turns the benchmark's results into JSON lines and one
// side-by-side table: each system's figures (the median over runs) and
// Warden's ratio to the best peer.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/warden-dev/warden/bench/peers/workload"
)

// Record is one measurement: a workload at a client count on a fresh
// cluster of one system (and, for Warden, one placement of its clients).
type Record struct {
	Run      int    `json:"run"`
	System   string `json:"system"` // zookeeper, etcd, warden/leader, warden/follower
	Workload string `json:"workload"`
	Unit     string `json:"unit"`
	Clients  int    `json:"clients"`
	Warmup   string `json:"warmup"`
	Window   string `json:"window"`
	Error    string `json:"error,omitempty"`
	workload.Result
}

// JSONL writes one record per line.
func JSONL(w io.Writer, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// metric is one row's quantity.
type metric struct {
	name   string
	higher bool // higher is better
	get    func(workload.Result) float64
	when   func(workload.Result) bool
}

// metrics lists the rows each workload gets.
func metrics(w string, unit string) []metric {
	rate := metric{unit, true, func(r workload.Result) float64 { return r.Rate }, nil}
	p50 := metric{"p50 ms", false, func(r workload.Result) float64 { return r.P50ms }, nil}
	p99 := metric{"p99 ms", false, func(r workload.Result) float64 { return r.P99ms }, nil}
	cpu := metric{"cpu µs/op", false, func(r workload.Result) float64 { return r.CPUus }, nil}
	rss := metric{"rss MiB", false, func(r workload.Result) float64 { return r.RSSMB }, nil}
	switch w {
	case "config":
		return []metric{p50, p99,
			{"missed", false, func(r workload.Result) float64 { return float64(r.Missed) }, nil},
			{"late", false, func(r workload.Result) float64 { return float64(r.Late) }, nil}, rate}
	case "crash-failover", "crash-election":
		return []metric{p50, p99}
	case "memory":
		return []metric{{"bytes/znode", false, func(r workload.Result) float64 { return r.BytesPerZnode }, nil}, rss, rate, cpu}
	}
	return []metric{rate, p50, p99, cpu, rss}
}

// key groups the records of repeated runs.
type key struct {
	workload string
	clients  int
	system   string
}

// Table writes the side-by-side table of recs: the median over runs of
// every figure, one column per system in systems' order, and for each
// Warden column its ratio to the best peer (for rates, >1 means Warden
// does more; for everything else, <1 means Warden needs less).
func Table(w io.Writer, recs []Record, systems []string) {
	groups := map[key][]workload.Result{}
	errs := map[key]string{}
	var order []key
	for _, r := range recs {
		k := key{r.Workload, r.Clients, r.System}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		if r.Error != "" {
			errs[k] = r.Error
			continue
		}
		groups[k] = append(groups[k], r.Result)
	}
	var peers, wardens []string
	for _, s := range systems {
		if strings.HasPrefix(s, "warden") {
			wardens = append(wardens, s)
		} else {
			peers = append(peers, s)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"workload", "clients", "metric"}
	head = append(head, systems...)
	for _, s := range wardens {
		head = append(head, s+"/best")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	units := map[string]string{}
	for _, wl := range workload.All {
		units[wl.Name] = wl.Unit
	}
	type row struct {
		workload string
		clients  int
	}
	var rows []row
	seen := map[row]bool{}
	for _, k := range order {
		r := row{k.workload, k.clients}
		if !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	for _, r := range rows {
		for _, m := range metrics(r.workload, units[r.workload]) {
			cells := []string{r.workload, clientsCell(r.clients), m.name}
			vals := map[string]float64{}
			for _, s := range systems {
				k := key{r.workload, r.clients, s}
				v, ok := median(groups[k], m.get)
				switch {
				case ok:
					vals[s] = v
					cells = append(cells, num(v))
				case errs[k] != "":
					cells = append(cells, "error")
				default:
					cells = append(cells, "-")
				}
			}
			best, ok := bestPeer(vals, peers, m.higher)
			for _, s := range wardens {
				v, has := vals[s]
				if !ok || !has || best == 0 {
					cells = append(cells, "-")
					continue
				}
				cells = append(cells, fmt.Sprintf("%.3g", v/best))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	tw.Flush()
	for _, k := range order {
		if e := errs[k]; e != "" {
			fmt.Fprintf(w, "error: %s %s clients=%s: %s\n", k.system, k.workload, clientsCell(k.clients), firstLine(e))
		}
		var failed int64
		for _, r := range groups[k] {
			failed += r.Errors
		}
		if failed > 0 {
			fmt.Fprintf(w, "failed operations: %s %s clients=%s: %d in %d run(s) (not counted in the figures)\n",
				k.system, k.workload, clientsCell(k.clients), failed, len(groups[k]))
		}
	}
}

func clientsCell(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// median is the median of get over rs.
func median(rs []workload.Result, get func(workload.Result) float64) (float64, bool) {
	if len(rs) == 0 {
		return 0, false
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2], true
	}
	return (v[n/2-1] + v[n/2]) / 2, true
}

// bestPeer is the best figure among the peers that have one.
func bestPeer(vals map[string]float64, peers []string, higher bool) (float64, bool) {
	best, ok := 0.0, false
	for _, p := range peers {
		v, has := vals[p]
		if !has {
			continue
		}
		if !ok || (higher && v > best) || (!higher && v < best) {
			best, ok = v, true
		}
	}
	return best, ok
}

// num prints a figure with about three significant digits.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}
