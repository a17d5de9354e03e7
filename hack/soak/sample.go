package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/canarygate/canarygate/test/harness"
)

// serve is the running `canarygate serve` process.
type serve struct {
	pid        int
	cmdline    string
	metricsURL string
}

// findServe finds the harness's `canarygate serve` among the processes: the
// binary the harness built into its directory, run with "serve". Its
// metrics address is the --metrics-bind-address it was given.
func findServe(env *harness.Env) (serve, error) {
	binary := filepath.Join(env.Dir, "canarygate")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return serve{}, fmt.Errorf("listing processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) < 2 || args[0] != binary || args[1] != "serve" {
			continue
		}
		for i, a := range args {
			if a == "--metrics-bind-address" && i+1 < len(args) {
				return serve{pid: pid, cmdline: string(raw), metricsURL: "http://" + args[i+1] + "/metrics"}, nil
			}
		}
		return serve{}, fmt.Errorf("canarygate serve (pid %d) has no --metrics-bind-address", pid)
	}
	return serve{}, fmt.Errorf("no process runs %s serve", binary)
}

// sample is one measurement of the server and of the load since the last.
type sample struct {
	at                  time.Duration
	rssMiB, heapMiB     float64
	goroutines, openFDs float64
	window              window
}

// sample reads the process's resident memory and its Go runtime metrics.
func (s serve) sample(ctx context.Context) (sample, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.pid))
	if err != nil || string(raw) != s.cmdline {
		return sample{}, fmt.Errorf("canarygate serve (pid %d) is gone: it exited or restarted during the soak", s.pid)
	}
	out := sample{}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return out, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "VmRSS:" && f[2] == "kB" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return out, fmt.Errorf("VmRSS %q: %w", sc.Text(), err)
			}
			out.rssMiB = kb / 1024
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.metricsURL, nil)
	if err != nil {
		return out, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, fmt.Errorf("reading %s: %w", s.metricsURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	m, err := gauges(resp.Body, "go_memstats_heap_alloc_bytes", "go_goroutines", "process_open_fds")
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.metricsURL, err)
	}
	out.heapMiB = m["go_memstats_heap_alloc_bytes"] / (1 << 20)
	out.goroutines = m["go_goroutines"]
	out.openFDs = m["process_open_fds"]
	return out, nil
}

// gauges reads unlabelled samples from the Prometheus text format; every
// name asked for must be present.
func gauges(r io.Reader, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || !slices.Contains(names, f[0]) {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.Text(), err)
		}
		out[f[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("no %s", n)
		}
	}
	return out, nil
}

func printHeader() {
	fmt.Printf("%8s %9s %9s %10s %5s %7s %6s %8s %8s\n", "t", "rss MiB", "heap MiB", "goroutines", "fds", "reviews", "errors", "p50 ms", "p99 ms")
}

func printRow(s sample) {
	fmt.Printf("%8s %9.1f %9.1f %10.0f %5.0f %7d %6d %8.1f %8.1f\n", s.at, s.rssMiB, s.heapMiB, s.goroutines, s.openFDs,
		s.window.sent, s.window.failed+s.window.dropped, ms(s.window.percentile(0.5)), ms(s.window.percentile(0.99)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// logScanner watches the processes' output for errors and panics that
// canarygate serve logs (zap's development format: "\tERROR\t").
type logScanner struct {
	mu      sync.Mutex
	partial []byte
	keep    int
	errors  int
	panics  int
	lines   []string
}

func newLogScanner(keep int) *logScanner { return &logScanner{keep: keep} }

func (l *logScanner) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		panicked := strings.Contains(line, "handler panicked") || strings.HasPrefix(line, "panic: ")
		failed := strings.Contains(line, "\tERROR\t")
		if panicked {
			l.panics++
		}
		if failed {
			l.errors++
		}
		if (panicked || failed) && len(l.lines) < l.keep {
			l.lines = append(l.lines, line)
		}
	}
	if len(l.partial) > 1<<20 {
		l.partial = l.partial[:0] // a runaway line: drop it
	}
	return len(p), nil
}

// verdict is the soak's outcome.
type verdict struct {
	pass   bool
	checks []string
	notes  []string
}

func (v *verdict) check(ok bool, format string, args ...any) {
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		v.pass = false
	}
	v.checks = append(v.checks, mark+" "+fmt.Sprintf(format, args...))
}

func (v verdict) print(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\n")
	for _, c := range v.checks {
		b.WriteString(c + "\n")
	}
	for _, n := range v.notes {
		b.WriteString("     " + n + "\n")
	}
	if v.pass {
		b.WriteString("\nverdict: PASS — no growth trend, no error\n")
	} else {
		b.WriteString("\nverdict: FAIL\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// judge compares the median of the first third of the samples with the
// last third's for each resource, and checks that nothing failed.
func judge(c config, samples []sample, totals window, ch *churn, logs *logScanner) verdict {
	v := verdict{pass: true}
	if len(samples) < 3 {
		v.check(false, "only %d samples: at least 3 are needed to see a trend", len(samples))
		return v
	}
	k := len(samples) / 3
	first, last := samples[:k], samples[len(samples)-k:]
	trend := func(name, unit string, get func(sample) float64, slack float64) {
		a, b := median(first, get), median(last, get)
		limit := a*(1+c.growth) + slack
		v.check(b <= limit, "%-10s first third %8.1f %s, last third %8.1f %s (%+.1f%%; limit %.1f)", name, a, unit, b, unit, 100*(b-a)/max(a, 1e-9), limit)
	}
	trend("rss", "MiB", func(s sample) float64 { return s.rssMiB }, c.rssSlack)
	trend("heap", "MiB", func(s sample) float64 { return s.heapMiB }, c.heapSlack)
	trend("goroutines", "", func(s sample) float64 { return s.goroutines }, c.goroutineSlack)
	trend("open fds", "", func(s sample) float64 { return s.openFDs }, c.fdSlack)

	v.check(totals.sent > 0 && totals.failed == 0, "%d reviews sent, %d failed or got an unexpected answer (%d slower than %s)", totals.sent, totals.failed, totals.slow, c.maxLatency)
	v.check(totals.dropped == 0, "%d ticks dropped because every worker was busy", totals.dropped)
	v.check(len(ch.failures) == 0, "%d writes through the API server, %d failed", 2*ch.n, len(ch.failures))
	logs.mu.Lock()
	v.check(logs.panics == 0 && logs.errors == 0, "serve logged %d panics and %d errors", logs.panics, logs.errors)
	v.notes = append(v.notes, totals.examples...)
	v.notes = append(v.notes, ch.failures...)
	v.notes = append(v.notes, logs.lines...)
	logs.mu.Unlock()
	return v
}

func median(s []sample, get func(sample) float64) float64 {
	vals := make([]float64, len(s))
	for i, x := range s {
		vals[i] = get(x)
	}
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}
