package workload

import (
	"slices"
	"time"
)

// percentiles returns the p50 and p99 of lat in milliseconds (nearest
// rank) and the number of samples.
func percentiles(lat []time.Duration) (p50, p99 float64, n int) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	rank := func(p int) float64 {
		i := (len(s)*p + 99) / 100 // ceil(len*p/100), 1-based
		if i < 1 {
			i = 1
		}
		return float64(s[i-1]) / float64(time.Millisecond)
	}
	return rank(50), rank(99), len(s)
}
