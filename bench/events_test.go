package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// BenchmarkConfigEvents measures how fast a subscriber consumes a node's
// change history through the Go client. It works in rounds of at most
// eventsRound changes, well inside the 100,000 the agent keeps, so that
// any b.N works: each round writes its sets of /bench/cfg first
// (untimed), then the timer runs from the Subscribe call, resuming just
// before the round's first set, until the round's last change has been
// read and checked (in order, none missing). The Python and TypeScript
// clients' benchmark scripts measure the same thing (config_events), so
// the figures compare the clients' decoding and dispatch, not the
// agent's writes:
//
//	go test -run x -bench ConfigEvents -benchtime 20000x ./bench/
func BenchmarkConfigEvents(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: startAgent(b, true), Name: "bench-events"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const path = "/bench/cfg"
	if _, err := c.Create(ctx, "/bench", nil, warden.Persistent); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Create(ctx, path, nil, warden.Persistent); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ResetTimer() // not the agent's start
	var elapsed time.Duration
	for done := 0; done < b.N; {
		n := min(eventsRound, b.N-done)
		from, err := c.Sync(ctx) // the round's sets come after this zxid
		if err != nil {
			b.Fatal(err)
		}
		for i := done; i < done+n; i++ {
			if _, err := c.Set(ctx, path, []byte(strconv.Itoa(i)), -1); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		sub, err := c.Subscribe(ctx, path, warden.SubscribeOptions{FromZxid: from})
		if err != nil {
			b.Fatal(err)
		}
		last := from
		for i := done; i < done+n; i++ {
			ev, err := sub.Next(ctx)
			if err != nil {
				b.Fatalf("event %d: %v", i, err)
			}
			if ev.Type != "data_changed" || string(ev.Data) != strconv.Itoa(i) || ev.Zxid <= last {
				b.Fatalf("event %d: %s %q at zxid %d after %d", i, ev.Type, ev.Data, ev.Zxid, last)
			}
			last = ev.Zxid
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if err := sub.Close(ctx); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if b.N >= 1000 { // the line the other clients' benchmark scripts print
		fmt.Printf("{\"client\": \"go\", \"bench\": \"config_events\", \"n\": %d, \"seconds\": %.4f, \"per_sec\": %.0f}\n",
			b.N, elapsed.Seconds(), float64(b.N)/elapsed.Seconds())
	}
}

// eventsRound is the most changes BenchmarkConfigEvents writes before it
// reads them: half of the agent's history.
const eventsRound = 50_000
