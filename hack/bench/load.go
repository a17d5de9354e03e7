package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
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
}

// ok reports whether the attack met the sustainable-rate criterion: no
// errors and p99 under the bound.
func (r loadResult) ok(bound time.Duration) bool { return r.Errors == 0 && r.P99 < bound }

// attack sends the targets round-robin at rate requests per second for d,
// open loop (requests are sent on schedule whether or not earlier ones have
// answered, so a slow server shows up as latency, not as a lower rate), over
// HTTPS with keep-alive, and returns exact percentiles of every latency.
func attack(name string, targets []vegeta.Target, rate int, d time.Duration, ca *x509.CertPool) loadResult {
	a := vegeta.NewAttacker(
		vegeta.TLSConfig(&tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}),
		vegeta.HTTP2(false),
		vegeta.KeepAlive(true),
		vegeta.Timeout(5*time.Second),
		vegeta.Workers(uint64(max(8, rate/100))),
		vegeta.MaxWorkers(2000),
		vegeta.Connections(10000),
		vegeta.MaxConnections(2000),
	)
	res := loadResult{Target: name, Rate: rate, Duration: d}
	lat := make([]time.Duration, 0, rate*int(d/time.Second+1))
	var first, last time.Time
	for r := range a.Attack(vegeta.NewStaticTargeter(targets...), vegeta.Rate{Freq: rate, Per: time.Second}, d, name) {
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
