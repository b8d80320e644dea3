package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// capture is a JSON logger at level whose lines the test reads back.
func capture(t *testing.T, level slog.Leveler) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	l, err := New(&buf, "json", level)
	if err != nil {
		t.Fatal(err)
	}
	return l, func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			out = append(out, m)
		}
		buf.Reset()
		return out
	}
}

type stringer struct{}

func (stringer) String() string { return "Node at 127.0.0.1:7300 [Leader]" }

func TestHCLog(t *testing.T) {
	level := new(slog.LevelVar)
	level.Set(LevelTrace)
	l, read := capture(t, level)
	hc := HCLog(l.With("node", "n1"), level)
	raft := hc.Named("raft").With("server", "s1")
	raft.Info("entering leader state", "node", stringer{}, "term", 3, "err", errors.New("boom"))
	raft.Trace("heartbeat", "peer", "p")
	raft.Named("net").Warn("slow", "x", hclog.Fmt("%d ms", 12))
	got := read()
	if len(got) != 3 {
		t.Fatalf("got %d lines: %v", len(got), got)
	}
	first := got[0]
	for k, v := range map[string]any{"level": "INFO", "msg": "entering leader state", "node": "n1", "logger": "raft",
		"server": "s1", "raft.node": "Node at 127.0.0.1:7300 [Leader]", "term": 3.0, "err": "boom"} {
		if first[k] != v {
			t.Errorf("line 1: %s = %v, want %v (%v)", k, first[k], v, first)
		}
	}
	if got[1]["level"] != "TRACE" || got[2]["logger"] != "raft.net" || got[2]["x"] != "12 ms" || got[2]["level"] != "WARN" {
		t.Errorf("lines 2 and 3: %v", got[1:])
	}
	// SetLevel moves the shared level; Is* and GetLevel follow it.
	hc.SetLevel(hclog.Warn)
	if raft.IsInfo() || !raft.IsWarn() || raft.GetLevel() != hclog.Warn {
		t.Fatalf("after SetLevel(Warn): IsInfo %v IsWarn %v GetLevel %v", raft.IsInfo(), raft.IsWarn(), raft.GetLevel())
	}
	raft.Info("dropped")
	raft.Error("kept")
	if got := read(); len(got) != 1 || got[0]["msg"] != "kept" || got[0]["level"] != "ERROR" {
		t.Fatalf("at warn: %v", got)
	}
}

func TestWriterLevels(t *testing.T) {
	l, read := capture(t, LevelTrace)
	w := NewWriter(l, slog.LevelInfo)
	w.Write([]byte("[DEBUG] memberlist: Stream connection from=127.0.0.1:1\n[WARN] serf: slow\n"))
	w.Write([]byte("2026-12-05T10:00:00.000Z [ERR] raft-net: failed\n"))
	w.Write([]byte("[ERROR] a"))
	w.Write([]byte("b split\n"))
	w.Write([]byte("[TRACE] x: t\nno tag at all\n[WARNING] y\n"))
	want := []struct{ level, logger, msg string }{
		{"DEBUG", "memberlist", "Stream connection from=127.0.0.1:1"},
		{"WARN", "serf", "slow"},
		{"ERROR", "raft-net", "failed"},
		{"ERROR", "", "ab split"},
		{"TRACE", "x", "t"},
		{"INFO", "", "no tag at all"},
		{"WARN", "", "y"},
	}
	got := read()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		logger, _ := got[i]["logger"].(string)
		if got[i]["level"] != w.level || logger != w.logger || got[i]["msg"] != w.msg {
			t.Errorf("line %d: %v, want %+v", i+1, got[i], w)
		}
	}
	// Below the handler's level, nothing.
	l2, read2 := capture(t, slog.LevelWarn)
	NewWriter(l2, slog.LevelInfo).Write([]byte("[DEBUG] memberlist: x\n[INFO] serf: y\n[ERR] serf: z\n"))
	if got := read2(); len(got) != 1 || got[0]["msg"] != "z" {
		t.Fatalf("at warn: %v", got)
	}
}

func TestParseLevelAndFormat(t *testing.T) {
	for s, want := range map[string]slog.Level{"trace": LevelTrace, "DEBUG": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(s); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) succeeded")
	}
	if _, err := New(&bytes.Buffer{}, "xml", slog.LevelInfo); err == nil {
		t.Error("New with format xml succeeded")
	}
	var buf bytes.Buffer
	l, _ := New(&buf, "text", LevelTrace)
	l.Log(context.Background(), LevelTrace, "deep")
	if !strings.Contains(buf.String(), "level=TRACE msg=deep") {
		t.Errorf("text trace line: %q", buf.String())
	}
}
