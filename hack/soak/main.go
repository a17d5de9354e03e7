// Command soak holds `canarygate serve` under a steady mixed load for a
// fixed time and reports whether it leaks. It starts a local control plane
// with canarygate through test/harness (etcd, kube-apiserver,
// kube-controller-manager, all on loopback), seeds the reference release
// from test/fixtures, then:
//
//   - POSTs AdmissionReviews built from the fixtures at a fixed rate to the
//     three endpoints over HTTPS, as the API server does (switches, canary
//     weights, a bad weight, deletions, verification, mutations), each with
//     the answer it must get;
//   - writes through the API server every sample interval, so the caches and
//     the sync controller see changes;
//   - samples the server every interval: resident memory from
//     /proc/<pid>/status, heap, goroutines and open files from /metrics.
//
// It prints one table row per sample and a verdict: PASS when no request
// failed or got an unexpected answer, no serve log line reports an error or
// a panic, and neither memory, goroutines nor open files grow (the median of
// the last third of the samples against the first third's). The exit status
// is 0 on PASS, 1 on FAIL, 2 when the run itself could not be made.
//
//	go run ./hack/soak -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/canarygate/canarygate/test/harness"
)

// config is the run's flags.
type config struct {
	root              string
	duration, warmup  time.Duration
	interval          time.Duration
	rate              float64
	workers           int
	logFile           string
	growth            float64
	heapSlack         float64 // MiB
	rssSlack          float64 // MiB
	goroutineSlack    float64
	fdSlack           float64
	maxLatency        time.Duration
	keepServeLogLines int
}

func main() {
	var c config
	flag.StringVar(&c.root, "root", ".", "repository root (bin/controlplane must hold the control plane: make controlplane)")
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to hold the load after the warm-up")
	flag.DurationVar(&c.warmup, "warmup", 30*time.Second, "load before the first sample (caches, policy compilation, connection pools settle)")
	flag.DurationVar(&c.interval, "interval", 10*time.Second, "sample interval")
	flag.Float64Var(&c.rate, "rate", 20, "AdmissionReviews per second, spread over the three endpoints")
	flag.IntVar(&c.workers, "workers", 8, "concurrent requests at most (the API server's connection pool); a tick that finds them all busy counts as an error")
	flag.StringVar(&c.logFile, "log", "", "write the control plane's and canarygate's logs to this file (default: a file in the temporary directory, printed)")
	flag.Float64Var(&c.growth, "max-growth", 0.20, "largest allowed relative growth of a median from the first third to the last")
	flag.Float64Var(&c.heapSlack, "heap-slack-mib", 4, "heap growth in MiB always allowed on top of -max-growth")
	flag.Float64Var(&c.rssSlack, "rss-slack-mib", 16, "resident memory growth in MiB always allowed on top of -max-growth")
	flag.Float64Var(&c.goroutineSlack, "goroutine-slack", 5, "goroutine growth always allowed on top of -max-growth")
	flag.Float64Var(&c.fdSlack, "fd-slack", 5, "open file growth always allowed on top of -max-growth")
	flag.DurationVar(&c.maxLatency, "max-latency", 2*time.Second, "an answer slower than this is an error (the decision timeout; the API server gives up at the webhook timeout)")
	flag.Parse()
	c.keepServeLogLines = 10
	os.Exit(run(c))
}

func run(c config) int {
	if c.duration <= 0 || c.interval <= 0 || c.rate <= 0 || c.workers <= 0 || c.duration < 3*c.interval {
		fmt.Fprintln(os.Stderr, "soak: -duration must hold at least three -interval samples, and -rate and -workers must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := filepath.Abs(c.root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	logPath := c.logFile
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), fmt.Sprintf("canarygate-soak-%d.log", os.Getpid()))
	}
	logf, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	defer func() { _ = logf.Close() }()
	scan := newLogScanner(c.keepServeLogLines)
	fmt.Printf("soak: starting the control plane and canarygate serve (logs: %s)\n", logPath)
	env, err := harness.Start(ctx, harness.Options{Root: root, Log: io.MultiWriter(logf, scan), Timeout: 4 * time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "soak: stopping:", err)
		}
	}()

	srv, err := findServe(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	fmt.Printf("soak: canarygate serve is pid %d, metrics at %s\n", srv.pid, srv.metricsURL)
	mix, err := seed(ctx, env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	load := newLoad(env, mix, c)
	churn := newChurn(env)

	fmt.Printf("soak: %s warm-up, then %s at %.0f reviews/s, sampled every %s\n", c.warmup, c.duration, c.rate, c.interval)
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.run(loadCtx, c.warmup+c.duration) }()

	var samples []sample
	warm := time.NewTimer(c.warmup)
	select {
	case <-warm.C:
	case <-ctx.Done():
	}
	load.window() // the warm-up's requests are not reported
	printHeader()
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	n := int(c.duration / c.interval)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			continue
		}
		churn.step(ctx)
		s, err := srv.sample(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak: sampling:", err)
			stopLoad()
			<-loadDone
			return 2
		}
		s.at = time.Duration(i+1) * c.interval
		s.window = load.window()
		samples = append(samples, s)
		printRow(s)
	}
	stopLoad()
	<-loadDone
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "soak: interrupted")
		return 2
	}
	v := judge(c, samples, load.totals(), churn, scan)
	if err := v.print(os.Stdout); err != nil {
		return 2
	}
	if !v.pass {
		return 1
	}
	return 0
}
