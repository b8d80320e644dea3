package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoLeaderHintRepeats: a lone server without BootstrapExpect, waiting
// for a leader, says what to add at once and again every
// NoLeaderWarnInterval.
func TestNoLeaderHintRepeats(t *testing.T) {
	var logs lockedBuffer
	n := startTestNode(t, "lone", func(c *Config) {
		c.Server = true
		c.NoLeaderWarnInterval = 50 * time.Millisecond
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := n.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady on a lone server: %v, want the deadline", err)
	}
	if c := strings.Count(logs.String(), "start the first servers with --bootstrap-expect N"); c < 3 {
		t.Fatalf("the hint came %d times in 500ms at a 50ms interval, want at least 3:\n%s", c, logs.String())
	}
}

// TestNoLeaderHintCases: who is told what.
func TestNoLeaderHintCases(t *testing.T) {
	for _, tc := range []struct {
		name         string
		tune         func(*Config)
		bootstrapped bool
		waited       time.Duration
		want         string
	}{
		{"lone server", func(c *Config) { c.Server = true }, false, 0, "--bootstrap-expect N"},
		{"server with state", func(c *Config) { c.Server = true }, true, time.Hour, ""},
		{"dev", func(c *Config) { c.Server, c.Bootstrap = true, true }, false, time.Hour, ""},
		{"expecting servers", func(c *Config) { c.Server, c.BootstrapExpect = true, 3 }, false, time.Hour, ""},
		{"joining, early", func(c *Config) { c.Server, c.Join = true, []string{"10.0.0.1"} }, false, time.Second, ""},
		{"joining, long", func(c *Config) { c.Server, c.Join = true, []string{"10.0.0.1"} }, false, time.Minute, "--bootstrap-expect N"},
		{"replica without join", func(c *Config) {}, false, 0, "--join"},
		{"replica joining", func(c *Config) { c.Join = []string{"10.0.0.1"} }, false, time.Hour, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.DataDir = t.TempDir()
			tc.tune(c)
			n, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			n.bootstrapped.Store(tc.bootstrapped)
			got := n.noLeaderHint(tc.waited)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("hint %q, want one with %q", got, tc.want)
			}
		})
	}
}
