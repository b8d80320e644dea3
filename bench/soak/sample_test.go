package soak

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// agentSample is one agent's state at one sample: what the OS says of the
// process, what its /metrics says, and what its data dir holds.
type agentSample struct {
	Name       string `json:"name"`
	RSS        int64  `json:"rss_bytes"`
	FDs        int    `json:"fds"`
	Heap       int64  `json:"heap_inuse_bytes"`
	Goroutines int64  `json:"goroutines"`
	History    int64  `json:"history_changes"`
	HistoryB   int64  `json:"history_bytes"`
	Znodes     int64  `json:"znodes"`
	Sessions   int64  `json:"sessions"`
	Results    int64  `json:"cached_results"`
	Watches    int64  `json:"watches"`
	Local      int64  `json:"local_sessions"`
	Tracked    int64  `json:"expiry_tracked_sessions"`
	Applied    int64  `json:"applied_index"`
	RaftDB     int64  `json:"raft_db_bytes"` // the Raft log store: raft.db, or wal/'s files
	Snapshots  int64  `json:"snapshot_bytes"`
	SnapCount  int    `json:"snapshots"`
	DataDir    int64  `json:"data_dir_bytes"`
}

// sampleAgent reads p's state; a part it cannot read stays zero and the
// error says which.
func sampleAgent(ctx context.Context, p *agenttest.Proc) (agentSample, error) {
	s := agentSample{Name: p.Name}
	var errs []string
	if v, err := p.RSS(); err == nil {
		s.RSS = v
	} else {
		errs = append(errs, err.Error())
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid())); err == nil {
		s.FDs = len(fds)
	} else {
		errs = append(errs, err.Error())
	}
	m, err := scrape(ctx, "http://"+p.IP+":7302/metrics")
	if err != nil {
		errs = append(errs, err.Error())
	}
	s.Heap, s.Goroutines = m["go_memstats_heap_inuse_bytes"], m["go_goroutines"]
	s.History, s.HistoryB = m["warden_history_changes"], m["warden_history_bytes"]
	s.Znodes, s.Sessions, s.Results = m["warden_znodes"], m["warden_sessions"], m["warden_cached_results"]
	s.Watches, s.Local, s.Tracked = m["warden_watches"], m["warden_local_sessions"], m["warden_expiry_tracked_sessions"]
	s.Applied = m["warden_raft_applied_index"]
	if fi, err := os.Stat(filepath.Join(p.DataDir, "raft.db")); err == nil {
		s.RaftDB = fi.Size()
	}
	_ = filepath.WalkDir(filepath.Join(p.DataDir, "wal"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				s.RaftDB += fi.Size()
			}
		}
		return nil
	})
	_ = filepath.WalkDir(p.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if err == nil && filepath.Base(filepath.Dir(path)) == "snapshots" {
				s.SnapCount++
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		s.DataDir += fi.Size()
		if strings.Contains(path, string(filepath.Separator)+"snapshots"+string(filepath.Separator)) {
			s.Snapshots += fi.Size()
		}
		return nil
	})
	if len(errs) > 0 {
		return s, fmt.Errorf("sample %s: %s", p.Name, strings.Join(errs, "; "))
	}
	return s, nil
}

// scrape reads the integer gauges of a Prometheus text page.
func scrape(ctx context.Context, url string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = int64(v)
		}
	}
	return out, sc.Err()
}
