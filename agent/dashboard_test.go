package agent_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/warden-dev/warden/agent/agenttest"
)

const (
	dashboard = "../deploy/grafana/warden-dashboard.json"
	alerts    = "../deploy/prometheus/warden-alerts.yml"
)

// alertExprs returns the expr of every rule in the alerts file (each on
// one line, as the file writes them).
func alertExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// promtool accepts the alerting rules.
func TestAlertRules(t *testing.T) {
	tool := promtool(t)
	if out, err := exec.Command(tool, "check", "rules", alerts).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// exprs returns every "expr" string anywhere in a decoded JSON value.
func exprs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "expr" {
				out = append(out, s)
			} else {
				out = append(out, exprs(x)...)
			}
		}
	case []any:
		for _, x := range v {
			out = append(out, exprs(x)...)
		}
	}
	return out
}

var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reMatchers = regexp.MustCompile(`\{[^}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	reNumber   = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b`)
	keywords   = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// metricNames are the metric names a PromQL expression reads: what is
// left once strings, label matchers, ranges, grouping clauses and numbers
// are removed, less function calls and keywords.
func metricNames(expr string) []string {
	e := reString.ReplaceAllString(expr, `""`)
	e = reMatchers.ReplaceAllString(e, " ")
	e = reRange.ReplaceAllString(e, " ")
	e = reGrouping.ReplaceAllString(e, " ")
	e = reNumber.ReplaceAllString(e, " ")
	var out []string
	for _, m := range reIdent.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") {
			continue // a function
		}
		name := strings.TrimSpace(m)
		if slices.Contains(keywords, strings.ToLower(name)) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (op, le) (rate(warden_api_request_duration_seconds_bucket{instance=~"$instance",code="ok"}[$__rate_interval])))`: {"warden_api_request_duration_seconds_bucket"},
		`warden_raft_commit_index{instance=~"a"} - warden_raft_applied_index`:                                                                             {"warden_raft_commit_index", "warden_raft_applied_index"},
		`max by (status) (warden_serf_members) > 0 and on (x) up * 1e9`:                                                                                   {"warden_serf_members", "up"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// seriesNames are the names a PromQL selector may use for the families:
// a histogram's _bucket, _sum and _count, a summary's _sum and _count.
func seriesNames(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, f := range fams {
		out[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name+"_sum"], out[name+"_count"] = true, true
		}
	}
	return out
}

// Every metric the dashboard's queries and the alerting rules read is on
// a real agent's /metrics after a lock workload: renaming a metric fails
// here.
func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	used := map[string]bool{}
	for _, e := range exprs(d) {
		for _, n := range metricNames(e) {
			used[n] = true
		}
	}
	// The dashboard's panels read at least this many metrics; fewer
	// means the queries were not found.
	if len(used) < 25 {
		t.Fatalf("found %d metric names in the dashboard's queries, want at least 25: %v", len(used), used)
	}
	rules := alertExprs(t)
	if len(rules) < 10 {
		t.Fatalf("found %d rules in %s, want at least 10", len(rules), alerts)
	}
	for _, e := range rules {
		for _, n := range metricNames(e) {
			used[n] = true
		}
	}
	a := agenttest.Start(t)
	_, fams := lockWorkload(t, a)
	have := seriesNames(fams)
	var missing []string
	for n := range used {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard or the alerting rules read metrics the agent does not serve: %v", missing)
	}
}
