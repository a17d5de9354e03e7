package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadResult is one open-loop attack at a constant rate.
type loadResult struct {
	Target   string
	Rate     int
	Duration time.Duration
	Requests int
	Errors   int
	// FirstError is an example error, for the report.
	FirstError          string
	P50, P99, P999, Max time.Duration
	// Achieved is the rate the attacker actually sent at.
	Achieved float64
	// Began and Ended are the first and last request's send times.
	Began, Ended time.Time
	// ServerCPU is the CPU time (user and system) the server process used
	// during the attack; in a median (results.median), per request.
	ServerCPU time.Duration
}

// cpuPerRequest is the server's CPU time per request sent.
func (r loadResult) cpuPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

// processCPU returns the user plus system CPU time of a process and all its
// threads so far, from /proc/PID/stat (in clock ticks of 1/100 s, the
// kernel's USER_HZ on Linux).
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after
	// its closing parenthesis: utime and stime are fields 14 and 15.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// ok reports whether the attack met the sustainable-rate criterion: no
// errors and p99 under the bound.
func (r loadResult) ok(bound time.Duration) bool { return r.Errors == 0 && r.P99 < bound }

// warmup is the length of the discarded attack before each measured one.
const warmup = 500 * time.Millisecond

// attack sends the targets round-robin at rate requests per second for d,
// open loop (requests are sent on schedule whether or not earlier ones have
// answered, so a slow server shows up as latency, not as a lower rate), over
// HTTPS with keep-alive, and returns exact percentiles of every latency.
func attack(name string, targets []vegeta.Target, rate int, d time.Duration, ca *x509.CertPool) loadResult {
	// One client, and so one connection pool, for the warm-up and the
	// measured attack (a vegeta attacker runs one attack); the options
	// after Client configure its shared transport.
	client := &http.Client{Transport: &http.Transport{}}
	attacker := func() *vegeta.Attacker {
		return vegeta.NewAttacker(
			vegeta.Client(client),
			vegeta.TLSConfig(&tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}),
			vegeta.HTTP2(false),
			vegeta.KeepAlive(true),
			vegeta.Timeout(5*time.Second),
			vegeta.Workers(uint64(max(8, rate/100))),
			vegeta.MaxWorkers(2000),
			vegeta.Connections(10000),
			vegeta.MaxConnections(2000),
		)
	}
	tr := vegeta.NewStaticTargeter(targets...)
	// Warm-up, discarded: it opens the connections (a TLS handshake each)
	// the measured attack then reuses, as the API server keeps its
	// connections to a webhook. Without it the first requests of every
	// attack pay a handshake, which alone puts the p99 of a short attack at
	// a low rate above the 5 ms bound. At most 500/s, so a saturated server
	// starts the measured attack without a backlog.
	for range attacker().Attack(tr, vegeta.Rate{Freq: min(rate, 500), Per: time.Second}, warmup, name+"-warmup") {
	}
	a := attacker()
	res := loadResult{Target: name, Rate: rate, Duration: d}
	lat := make([]time.Duration, 0, rate*int(d/time.Second+1))
	var first, last time.Time
	for r := range a.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, name) {
		res.Requests++
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		lat = append(lat, r.Latency)
		if r.Error != "" || r.Code != http.StatusOK {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("HTTP %d %s", r.Code, r.Error)
			}
		}
	}
	res.Began, res.Ended = first, last
	if span := last.Sub(first).Seconds(); span > 0 {
		res.Achieved = float64(res.Requests-1) / span
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	res.P50, res.P99, res.P999 = q(0.50), q(0.99), q(0.999)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return res
}

func tlsConfig(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// cpuProfile fetches a CPU profile of d (whole seconds, at least one) from
// the Go pprof server at addr into file, in the background; the channel
// gets the outcome.
func cpuProfile(addr string, d time.Duration, file string) <-chan error {
	done := make(chan error, 1)
	go func() {
		secs := max(1, int(d/time.Second))
		c := http.Client{Timeout: time.Duration(secs+30) * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
		if err != nil {
			done <- err
			return
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("pprof answered %s", resp.Status)
			return
		}
		f, err := os.Create(file)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	return done
}
