package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/test/harness"
)

// p99Bound is the latency bound of the highest sustainable rate (issue 6).
const p99Bound = 5 * time.Millisecond

// results is everything the report shows.
type results struct {
	Opts        options
	Started     time.Time
	Machine     [][2]string
	Decision    []benchRow
	Stages      []benchRow
	DecisionCmd []string
	Sanity      []sanityRow
	Loads       []loadResult
	Highest     map[string]int
	SearchSteps []loadResult
	Serve       []serveRow
	Profiles    []profileRow
	API         []apiRow
	APIProfile  *profileRow
	ServerSide  []sideRow
	Check       []checkRow
	Notes       []string
}

// profileRow is serve's CPU profile during one attack.
type profileRow struct {
	Rate, Requests int
	Total          float64 // seconds of CPU in the profile
	Shares         []cpuShare
	// CPU is serve's CPU time over all Requests, from /proc (the API
	// server part, whose profile covers only a window).
	CPU time.Duration
}

// run runs every part not skipped and writes the report.
func run(ctx context.Context, o options) (err error) {
	res := &results{Opts: o, Started: time.Now(), Highest: map[string]int{}}
	res.Machine = machine(o.Root)
	defer func() {
		if werr := res.write(); werr != nil && err == nil {
			err = werr
		}
	}()
	if !o.Skip["decision"] {
		say("decision benchmarks (go test -bench)")
		rows, cmd, err := runGoBench(o.Root, "^BenchmarkDecision$", o.BenchCount, o.BenchTime)
		if err != nil {
			return err
		}
		res.Decision, res.DecisionCmd = rows, append(res.DecisionCmd, cmd)
		rows, cmd, err = runGoBench(o.Root, "^BenchmarkDecisionStage$", o.BenchCount, o.BenchTime)
		if err != nil {
			return err
		}
		res.Stages, res.DecisionCmd = rows, append(res.DecisionCmd, cmd)
	}
	if o.Skip["webhook"] {
		return nil
	}
	return webhookBench(ctx, o, res)
}

// webhookBench starts the control plane, canarygate and opa, and drives
// the load against both.
func webhookBench(ctx context.Context, o options, res *results) error {
	tmp, err := os.MkdirTemp("", "canarygate-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	logf, err := os.Create(filepath.Join(tmp, "processes.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()

	opaBin := filepath.Join(o.Root, "bin", "opa")
	if !o.Skip["opa"] {
		say("building opa (hack/opa/build.sh; cached in bin/)")
		build := exec.CommandContext(ctx, "bash", filepath.Join(o.Root, "hack", "opa", "build.sh"), opaBin)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building opa: %w", err)
		}
	}

	say("starting the control plane and canarygate serve (test/harness)")
	env, err := harness.Start(ctx, harness.Options{Root: o.Root, Log: logf, Timeout: 5 * time.Minute})
	if err != nil {
		return fmt.Errorf("%w (process output in %s)", err, logf.Name())
	}
	defer func() { _ = env.Stop() }()

	if err := seedReference(ctx, env); err != nil {
		return err
	}
	srv, row, err := measureServe(ctx, env, nil, tmp, o.ProfileDir, "reference scenario only (5 objects)")
	defer func() { srv.stop() }()
	if err != nil {
		return err
	}
	res.Serve = append(res.Serve, row)

	if !o.Skip["apiserver"] {
		o.servePID, o.servePprof = srv.cmd.Process.Pid, srv.pprof
		rows, prof, notes, err := apiserverBench(ctx, o, env, tmp, logf)
		res.Notes = append(res.Notes, notes...)
		if err != nil {
			return fmt.Errorf("through the API server: %w", err)
		}
		res.API, res.APIProfile = rows, prof
	}

	reqs, err := referenceRequests(ctx, env)
	if err != nil {
		return err
	}
	set, err := liveFacts(ctx, env)
	if err != nil {
		return err
	}
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(env.Env.WebhookInstallOptions.LocalServingCAData)
	cgURL := fmt.Sprintf("https://127.0.0.1:%d", env.Env.WebhookInstallOptions.LocalServingPort)

	// Targets are rebuilt before every attack: the validating requests
	// carry the mutation's time stamps, which the gate accepts only within
	// a minute of now.
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	build := func(now time.Time) (cg, op []vegeta.Target, err error) {
		for i, r := range reqs {
			m, err := r.mutated(ctx, set, now)
			if err != nil {
				return nil, nil, err
			}
			for _, ep := range endpoints {
				sent := m
				if ep == endpoints[0] {
					sent = r // the mutating webhook sees the request as written
				}
				body, err := sent.review(fmt.Sprintf("bench-%02d-%s", i, strings.Trim(strings.ReplaceAll(ep, "/", "-"), "-")))
				if err != nil {
					return nil, nil, err
				}
				cg = append(cg, vegeta.Target{Method: http.MethodPost, URL: cgURL + ep, Body: body, Header: hdr})
				in, err := m.input(ctx, set, now)
				if err != nil {
					return nil, nil, err
				}
				op = append(op, vegeta.Target{Method: http.MethodPost, URL: "/v1/data/canarygate/builtin/main/decision", Body: in, Header: hdr})
			}
		}
		return cg, op, nil
	}
	cgTargets, opaTargets, err := build(time.Now())
	if err != nil {
		return err
	}

	var opa *opaServer
	if !o.Skip["opa"] {
		say("starting opa run --server")
		if opa, err = startOPA(ctx, opaBin, tmp, logf); err != nil {
			return err
		}
		defer opa.stop()
		opaURL := opa.URL
		withURL := func(ts []vegeta.Target) []vegeta.Target {
			for i := range ts {
				ts[i].URL = opaURL + ts[i].URL
			}
			return ts
		}
		opaTargets = withURL(opaTargets)
		prev := build
		build = func(now time.Time) ([]vegeta.Target, []vegeta.Target, error) {
			cg, op, err := prev(now)
			return cg, withURL(op), err
		}
		// The runner's scratch folder and port change every run and name
		// this machine's paths: the report shows them as DIR and PORT.
		args := strings.ReplaceAll(strings.Join(opa.Args, " "), tmp, "DIR")
		if u, err := url.Parse(opa.URL); err == nil && u.Port() != "" {
			args = strings.ReplaceAll(args, ":"+u.Port(), ":PORT")
		}
		res.Notes = append(res.Notes, "opa: `"+filepath.Base(opaBin)+" "+args+"`")
	}

	say("checking each request's decision once")
	if res.Sanity, err = sanity(reqs, cgTargets, opaTargets, ca, opa); err != nil {
		return err
	}

	type tgt struct {
		name    string
		targets func() []vegeta.Target
		ca      *x509.CertPool
		pid     int // the server process, for its CPU time
	}
	fresh := func(opaSide bool) func() []vegeta.Target {
		return func() []vegeta.Target {
			cg, op, err := build(time.Now())
			if err != nil {
				panic(err) // built once above with the same inputs
			}
			if opaSide {
				return op
			}
			return cg
		}
	}
	tgts := []tgt{{"canarygate", fresh(false), ca, srv.cmd.Process.Pid}}
	if opa != nil {
		tgts = append(tgts, tgt{"opa", fresh(true), opa.CA, opa.cmd.Process.Pid})
	}
	for rep := range o.Repeat {
		for _, rate := range o.Rates {
			order := slices.Clone(tgts)
			if rep%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				say("attack %s at %d/s for %v (round %d of %d)", t.name, rate, o.Duration, rep+1, o.Repeat)
				var prof <-chan error
				if t.name == "canarygate" && rep == 0 && srv.pprof != "" {
					prof = cpuProfile(srv.pprof, o.Duration, filepath.Join(o.ProfileDir, fmt.Sprintf("canarygate-%d.cpu.prof", rate)))
				}
				cpu0, cpuErr := processCPU(t.pid)
				r := attack(t.name, t.targets(), rate, o.Duration, t.ca)
				if cpu1, err := processCPU(t.pid); err == nil && cpuErr == nil {
					r.ServerCPU = cpu1 - cpu0
				}
				if prof != nil {
					file := filepath.Join(o.ProfileDir, fmt.Sprintf("canarygate-%d.cpu.prof", rate))
					if err := <-prof; err != nil {
						say("  CPU profile: %v", err)
					} else if shares, total, err := cpuShares(file); err != nil {
						say("  CPU profile: %v", err)
					} else {
						res.Profiles = append(res.Profiles, profileRow{Rate: rate, Requests: r.Requests, Total: total, Shares: shares})
					}
				}
				say("  p50 %v p99 %v p99.9 %v errors %d/%d", r.P50, r.P99, r.P999, r.Errors, r.Requests)
				res.Loads = append(res.Loads, r)
				time.Sleep(2 * time.Second) // let queues drain and GC settle
			}
		}
	}
	var windows [][2]time.Time
	for _, l := range res.Loads {
		if l.Target == "canarygate" && l.Rate == o.Rates[0] {
			windows = append(windows, [2]time.Time{l.Began, l.Ended})
		}
	}
	if res.ServerSide, err = decisionTimes(srv.log.Name(), reqs, windows); err != nil {
		say("  serve's decision times: %v", err)
	}
	for _, t := range tgts {
		res.Highest[t.name], res.SearchSteps = highest(ctx, t.name, t.targets, t.ca, res, o)
	}

	if o.Scale {
		if err := scaleBench(ctx, o, env, &srv, tmp, res); err != nil {
			return err
		}
	}
	return nil
}

// highest searches the highest rate (to 100/s) at which the target answers
// with p99 under p99Bound and no errors: up from the best rate the main
// attacks sustained in 25% steps, then halving the gap twice.
func highest(ctx context.Context, name string, targets func() []vegeta.Target, ca *x509.CertPool, res *results, o options) (int, []loadResult) {
	steps := res.SearchSteps
	pass := 0
	for _, rate := range o.Rates {
		if m, ok := res.median(name, rate); ok && m.ok(p99Bound) {
			pass = max(pass, rate)
		}
	}
	lo, hi := pass, 0
	probe := func(rate int) bool {
		say("search %s at %d/s for %v", name, rate, o.SearchDuration)
		r := attack(name, targets(), rate, o.SearchDuration, ca)
		say("  p99 %v errors %d/%d", r.P99, r.Errors, r.Requests)
		steps = append(steps, r)
		time.Sleep(2 * time.Second)
		return r.ok(p99Bound)
	}
	next := max(500, lo*5/4/100*100)
	for i := 0; i < 8 && next <= 20000 && ctx.Err() == nil; i++ {
		if !probe(next) {
			hi = next
			break
		}
		lo, next = next, next*5/4/100*100
	}
	for i := 0; i < 2 && hi > 0 && hi-lo > 100 && ctx.Err() == nil; i++ {
		mid := (lo + hi) / 2 / 100 * 100
		if probe(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, steps
}

// median returns the attack of a target and rate with the median p99.
func (r *results) median(target string, rate int) (loadResult, bool) {
	var runs []loadResult
	for _, l := range r.Loads {
		if l.Target == target && l.Rate == rate {
			runs = append(runs, l)
		}
	}
	if len(runs) == 0 {
		return loadResult{}, false
	}
	med := func(f func(loadResult) time.Duration) time.Duration {
		v := make([]float64, len(runs))
		for i, l := range runs {
			v[i] = float64(f(l))
		}
		return time.Duration(median(v))
	}
	out := runs[0]
	out.P50 = med(func(l loadResult) time.Duration { return l.P50 })
	out.P99 = med(func(l loadResult) time.Duration { return l.P99 })
	out.P999 = med(func(l loadResult) time.Duration { return l.P999 })
	out.Max = med(func(l loadResult) time.Duration { return l.Max })
	out.ServerCPU = med(func(l loadResult) time.Duration { return l.cpuPerRequest() })
	out.Errors, out.Requests = 0, 0
	for _, l := range runs {
		out.Errors += l.Errors
		out.Requests += l.Requests
		if out.FirstError == "" {
			out.FirstError = l.FirstError
		}
	}
	return out, true
}

// sanityRow is what each request gets from each server once.
type sanityRow struct {
	Request, Endpoint string
	Canarygate, OPA   string
}

var codeRE = regexp.MustCompile(`\[(CG\d+)\]`)

// sanity sends every request once to canarygate and to opa and records the
// decisions, so the report shows the load is made of real allowed and
// denied decisions; an HTTP error fails the run.
func sanity(reqs []request, cg, opa []vegeta.Target, ca *x509.CertPool, srv *opaServer) ([]sanityRow, error) {
	client := func(pool *x509.CertPool) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(pool)}}
	}
	post := func(c *http.Client, t vegeta.Target) ([]byte, error) {
		resp, err := c.Post(t.URL, "application/json", bytes.NewReader(t.Body))
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: HTTP %d: %s", t.URL, resp.StatusCode, b)
		}
		return b, err
	}
	cgc := client(ca)
	var oc *http.Client
	if srv != nil {
		oc = client(srv.CA)
	}
	var rows []sanityRow
	denied := false
	for i, t := range cg {
		row := sanityRow{Request: reqs[i/len(endpoints)].Name, Endpoint: endpoints[i%len(endpoints)]}
		b, err := post(cgc, t)
		if err != nil {
			return nil, err
		}
		var rev struct {
			Response struct {
				Allowed  bool     `json:"allowed"`
				Patch    []byte   `json:"patch"`
				Warnings []string `json:"warnings"`
				Status   struct {
					Message string `json:"message"`
				} `json:"status"`
			} `json:"response"`
		}
		if err := json.Unmarshal(b, &rev); err != nil {
			return nil, err
		}
		row.Canarygate = "allowed"
		if !rev.Response.Allowed {
			row.Canarygate, denied = "denied", true
		}
		if codes := codeRE.FindAllStringSubmatch(rev.Response.Status.Message, -1); len(codes) > 0 {
			row.Canarygate += " " + joinCodes(codes)
		}
		if len(rev.Response.Patch) > 0 {
			row.Canarygate += ", patched"
		}
		if codes := codeRE.FindAllStringSubmatch(strings.Join(rev.Response.Warnings, " "), -1); len(codes) > 0 {
			row.Canarygate += ", warns " + joinCodes(codes)
		}
		if oc != nil {
			b, err := post(oc, opa[i])
			if err != nil {
				return nil, err
			}
			var out struct {
				Result []struct {
					Code, Endpoint, Enforcement string
				} `json:"result"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				return nil, err
			}
			var items []string
			for _, it := range out.Result {
				items = append(items, fmt.Sprintf("%s(%s,%s)", it.Code, it.Endpoint, it.Enforcement))
			}
			slices.Sort(items)
			row.OPA = strings.Join(items, " ")
			if row.OPA == "" {
				row.OPA = "no items"
			}
		}
		rows = append(rows, row)
	}
	if !denied {
		return rows, errors.New("no request was denied: the load would not exercise denials")
	}
	return rows, nil
}

func joinCodes(m [][]string) string {
	var out []string
	for _, c := range m {
		if !slices.Contains(out, c[1]) {
			out = append(out, c[1])
		}
	}
	return strings.Join(out, ",")
}

// machine describes where the run happened.
func machine(root string) [][2]string {
	out := [][2]string{{"cores (nproc)", strconv.Itoa(runtime.NumCPU())}}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				out = append(out, [2]string{"CPU", strings.TrimSpace(v)})
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(raw), "\n")
		out = append(out, [2]string{"memory", strings.Join(strings.Fields(l)[1:], " ")})
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		out = append(out, [2]string{"kernel", strings.TrimSpace(string(raw))})
	}
	if b, err := exec.Command("go", "version").Output(); err == nil {
		out = append(out, [2]string{"Go", strings.TrimSpace(string(b))})
	}
	if b, err := exec.Command("go", "-C", filepath.Join(root, "hack", "opa"), "list", "-m", "-f", "{{.Version}}", "github.com/open-policy-agent/opa").Output(); err == nil {
		out = append(out, [2]string{"OPA (bare server and embedded)", strings.TrimSpace(string(b))})
	}
	if b, err := exec.Command(filepath.Join(root, "bin", "controlplane", "kube-apiserver"), "--version").Output(); err == nil {
		out = append(out, [2]string{"control plane", strings.TrimSpace(string(b))})
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		out = append(out, [2]string{"load average at start", strings.Join(strings.Fields(string(raw))[:3], " ")})
	}
	return out
}
