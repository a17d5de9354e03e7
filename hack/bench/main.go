// Command bench runs canarygate's performance benchmarks (issue 6) and
// writes docs/performance.md: the decision pipeline (go test -bench), the
// webhook over HTTPS under an open-loop constant-rate load next to bare
// `opa run --server` evaluating the same policies on the same facts,
// start-up and memory of `canarygate serve` on a large cluster, and
// `canarygate check` at scale. Everything runs on the loopback, bounded in
// count and time.
//
//	cd hack/bench && go run . [-duration 30s -repeat 3 -scale -out docs/performance.md]
//
// The defaults are a smoke run of a minute or two; `make bench` runs the
// full set (about 13 minutes on 2 cores).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// options are the runner's flags.
type options struct {
	Root           string
	Out            string
	Duration       time.Duration
	Rates          []int
	Repeat         int
	SearchDuration time.Duration
	BenchCount     int
	BenchTime      string
	Scale          bool
	Skip           map[string]bool
	Log            io.Writer
	Command        string
	// ProfileDir, when set, receives CPU profiles of canarygate serve
	// taken during the first attack at each rate.
	ProfileDir string
	// ProfileDirRel is ProfileDir as given on the command line, for the
	// report (never a path of the machine that ran it).
	ProfileDirRel string
	// servePID and servePprof are the running serve's process and pprof
	// address (set by the runner once it has started serve).
	servePID   int
	servePprof string
}

func main() {
	var o options
	var rates, skip, mode string
	var rounds, top int
	var query, out string
	var caseIndex int
	flag.StringVar(&mode, "mode", "all", "all: every benchmark and the report; regoprof: OPA's profiler on the decision inputs; regoopts: time evaluation options and queries; pprofq: CPU-profile one query")
	flag.StringVar(&o.Root, "root", "", "repository root (default: the nearest parent folder holding canarygate's go.mod)")
	flag.StringVar(&o.Out, "out", "", "write the report here, relative to the repository root (e.g. docs/performance.md); empty: stdout")
	flag.DurationVar(&o.Duration, "duration", 3*time.Second, "length of each constant-rate attack (the issue's figure is 30s)")
	flag.StringVar(&rates, "rates", "1000,2000,4000", "request rates (per second) of the attacks")
	flag.IntVar(&o.Repeat, "repeat", 1, "attacks per rate and target; the report shows medians")
	flag.DurationVar(&o.SearchDuration, "search-duration", 2*time.Second, "length of each attack of the highest-sustainable-rate search")
	flag.IntVar(&o.BenchCount, "bench-count", 3, "go test -count for the decision benchmarks")
	flag.StringVar(&o.BenchTime, "bench-time", "1s", "go test -benchtime for the decision benchmarks")
	flag.BoolVar(&o.Scale, "scale", false, "also load 10,000 Services, 5,000 Ingresses and 1,000 InferenceServices and measure serve's start-up and memory, and check 10,000 objects")
	flag.StringVar(&o.ProfileDir, "profile", "", "write CPU profiles of canarygate serve, one per rate of the first round of attacks, into this folder (relative to the repository root; go tool pprof FILE) and report where its CPU goes")
	flag.StringVar(&skip, "skip", "", "comma-separated parts to skip: decision, webhook (and everything after it), opa, apiserver")
	flag.IntVar(&rounds, "rounds", 200, "evaluations per case (regoprof, regoopts, pprofq)")
	flag.IntVar(&top, "top", 25, "expressions listed per case (regoprof)")
	flag.StringVar(&query, "query", "", "query (pprofq)")
	flag.IntVar(&caseIndex, "case", 0, "decision case index (pprofq)")
	flag.StringVar(&out, "o", "/tmp/q.prof", "profile file (pprofq)")
	flag.Parse()
	o.Command = "(cd hack/bench && go run . " + strings.Join(os.Args[1:], " ") + ")"

	// envtest logs through controller-runtime; the runner reports progress
	// itself and keeps the processes' output in a file.
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	switch mode {
	case "regoprof":
		err = regoProfile(ctx, os.Stdout, rounds, top)
	case "regoopts":
		err = regoOptions(ctx, os.Stdout, rounds, flag.Args())
	case "pprofq":
		err = pprofQuery(ctx, query, caseIndex, rounds, out)
	case "all":
		for _, r := range strings.Split(rates, ",") {
			n, perr := strconv.Atoi(strings.TrimSpace(r))
			if perr != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "bench: -rates: %q is not a positive integer\n", r)
				os.Exit(2)
			}
			o.Rates = append(o.Rates, n)
		}
		o.Skip = map[string]bool{}
		for _, s := range strings.Split(skip, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Skip[s] = true
			}
		}
		if o.Root == "" {
			o.Root, err = findRoot()
		}
		if err == nil {
			o.Root, err = filepath.Abs(o.Root)
		}
		o.ProfileDirRel = o.ProfileDir
		if err == nil && o.ProfileDir != "" && !filepath.IsAbs(o.ProfileDir) {
			o.ProfileDir = filepath.Join(o.Root, o.ProfileDir)
		}
		if err == nil && o.ProfileDir != "" {
			if o.ProfileDir, err = filepath.Abs(o.ProfileDir); err == nil {
				err = os.MkdirAll(o.ProfileDir, 0o755)
			}
		}
		if err == nil {
			err = run(ctx, o)
		}
	default:
		err = fmt.Errorf("unknown -mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// findRoot returns the nearest folder, from the working directory up, whose
// go.mod declares canarygate's main module.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if raw, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(raw), "module github.com/canarygate/canarygate\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no canarygate go.mod above the working directory; pass -root")
		}
		dir = parent
	}
}

// say reports progress on stderr (the report goes to -out or stdout).
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
