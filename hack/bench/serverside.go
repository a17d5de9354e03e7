package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sideRow is serve's own time for one request on one endpoint, from its
// decision log: the handler's time, without the network, TLS or queueing
// in front of it.
type sideRow struct {
	Request, Endpoint string
	N                 int
	P50, P99          time.Duration
}

// decisionTimes reads serve's JSON decision log and returns, per request
// and endpoint of the load (told apart by the review UID "bench-NN-…"),
// the percentiles of the decisions logged within the windows.
func decisionTimes(file string, reqs []request, windows [][2]time.Time) ([]sideRow, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	type key struct {
		req      int
		endpoint string
	}
	got := map[key][]time.Duration{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg, TS, UID, Endpoint, Duration string
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "decision" {
			continue
		}
		ts, err := time.Parse(time.RFC3339, l.TS)
		if err != nil || !within(ts, windows) {
			continue
		}
		// UIDs are "bench-NN-<endpoint path>" (run.go).
		rest, ok := strings.CutPrefix(l.UID, "bench-")
		if !ok || len(rest) < 2 {
			continue
		}
		i, err := strconv.Atoi(rest[:2])
		if err != nil || i >= len(reqs) {
			continue
		}
		d, err := time.ParseDuration(l.Duration)
		if err != nil {
			continue
		}
		k := key{i, l.Endpoint}
		got[k] = append(got[k], d)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []sideRow
	for i, r := range reqs {
		for _, ep := range []string{"mutate", "gate", "lint"} {
			ds := got[key{i, ep}]
			if len(ds) == 0 {
				continue
			}
			slices.Sort(ds)
			out = append(out, sideRow{Request: r.Name, Endpoint: ep, N: len(ds), P50: ds[len(ds)/2], P99: ds[min(len(ds)-1, len(ds)*99/100)]})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no decision logged within the attacks", file)
	}
	return out, nil
}

// within reports whether t (logged to the second) falls in one of the
// windows, widened to whole seconds.
func within(t time.Time, windows [][2]time.Time) bool {
	for _, w := range windows {
		if !t.Before(w[0].Truncate(time.Second)) && !t.After(w[1].Truncate(time.Second).Add(time.Second)) {
			return true
		}
	}
	return false
}

// writeServerSide renders the table.
func (r *results) writeServerSide(p func(string, ...any)) {
	if len(r.ServerSide) == 0 {
		return
	}
	p("\nserve's own time per decision (its decision log: from the handler's start to its answer, without the network, TLS or queueing in front of it) during the canarygate attacks at %d/s. The gate reads its targets live from the API server (DESIGN: a spec change made a moment ago must not slip through a stale cache), and a request with a target pays that read here; lint and mutate read the cache.\n\n", r.Opts.Rates[0])
	p("| request | endpoint | decisions | p50 | p99 |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range r.ServerSide {
		p("| %s | %s | %d | %s | %s |\n", s.Request, s.Endpoint, s.N, ms(s.P50), ms(s.P99))
	}
}
