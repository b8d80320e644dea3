// Package soak holds the soak benchmark: a 3-server cluster of real agent
// processes under a steady mixed load for a set duration, sampled every
// interval, that fails if throughput falls or memory keeps growing once
// every bounded structure has reached its bound.
//
//	make soak DURATION=30m    # writes soak-out/soak.jsonl, soak.svg and soak.png
//	go test -run TestSoak ./bench/soak/   # the 60 s variant that make test runs
//
// See TestSoak for the load, the samples and the pass criteria.
package soak
