package workload

import (
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p99, n := percentiles(lat)
	if p50 != 50 || p99 != 99 || n != 100 {
		t.Fatalf("p50 %v, p99 %v, n %d; want 50, 99, 100", p50, p99, n)
	}
	if p50, p99, n := percentiles(nil); p50 != 0 || p99 != 0 || n != 0 {
		t.Fatalf("empty: %v %v %d", p50, p99, n)
	}
	if p50, p99, _ := percentiles([]time.Duration{3 * time.Millisecond}); p50 != 3 || p99 != 3 {
		t.Fatalf("one sample: %v %v", p50, p99)
	}
}

// A subscriber that skips a value holds it from the moment it holds a
// later one, and the skipped value counts as missed.
func TestSubscriberSkips(t *testing.T) {
	s := &subscriber{held: []time.Time{{}}, saw: []bool{true}}
	s.got([]byte("0"))
	s.got([]byte("1"))
	s.got([]byte("3"))
	s.got([]byte("not a number"))
	if s.high != 3 || len(s.held) != 4 {
		t.Fatalf("high %d, %d held", s.high, len(s.held))
	}
	for k := 1; k <= 3; k++ {
		if s.held[k].IsZero() {
			t.Errorf("value %d not held", k)
		}
	}
	if !s.saw[1] || s.saw[2] || !s.saw[3] {
		t.Errorf("saw %v; want 2 missed only", s.saw)
	}
	if !s.held[2].Equal(s.held[3]) {
		t.Errorf("value 2 held at %v, not with 3 at %v", s.held[2], s.held[3])
	}
}

func TestHandoffs(t *testing.T) {
	h := &handoffs{by: -1}
	if d := h.granted(0); d != 0 {
		t.Fatalf("first grant: %v", d)
	}
	h.releasing(0)
	if d := h.granted(0); d != 0 {
		t.Fatalf("regrant to the releaser counted: %v", d)
	}
	h.releasing(0)
	time.Sleep(time.Millisecond)
	if d := h.granted(1); d < time.Millisecond {
		t.Fatalf("handoff to another client: %v", d)
	}
}
