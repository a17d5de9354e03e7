package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/canarygate/canarygate/test/harness"
	"k8s.io/client-go/kubernetes"
)

// serveRow is one start of `canarygate serve`.
type serveRow struct {
	Cluster string
	Ready   time.Duration
	RSS     int64 // bytes, after ready
}

// checkRow is one `canarygate check` run.
type checkRow struct {
	Objects int
	Wall    time.Duration
	MaxRSS  int64 // bytes
	Exit    int
}

// server is `canarygate serve` as the runner starts it: the harness's
// binary, certificates and ports, but configured as in a cluster — the API
// server's address from $KUBECONFIG rather than --kubeconfig, so client-go
// gets controller-runtime's in-cluster defaults (no client-side rate limit;
// with --kubeconfig, client-go's default of 5 requests/s throttles the
// gate's live reads of InferenceServices), and JSON logs instead of
// --dev-log.
type server struct {
	cmd *exec.Cmd
	log *os.File
	// pprof is the address of serve's /debug/pprof ("" when off).
	pprof string
}

// stop ends the serve process the runner started (its own process group).
func (s *server) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	stopGroup(s.cmd)
	_ = s.log.Close()
}

// serveArgs are the flags the harness starts serve with (test/harness),
// minus --kubeconfig and --dev-log.
func serveArgs(env *harness.Env, pprof string) []string {
	probe := strings.TrimSuffix(strings.TrimPrefix(env.ReadyURL, "http://"), "/readyz")
	args := []string{"serve",
		"--port", strconv.Itoa(env.Env.WebhookInstallOptions.LocalServingPort),
		"--cert-dir", env.Env.WebhookInstallOptions.LocalServingCertDir,
		"--health-probe-bind-address", probe,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", freePort()),
		"--shutdown-delay", "1s",
	}
	if pprof != "" {
		args = append(args, "--pprof-bind-address", pprof)
	}
	return args
}

// measureServe (re)starts `canarygate serve` and reports the time from
// start to ready and its resident memory once ready. prev, when not nil, is
// stopped first; the harness's own serve is stopped on the first call.
func measureServe(ctx context.Context, env *harness.Env, prev *server, logDir, profileDir, cluster string) (*server, serveRow, error) {
	say("(re)starting canarygate serve (%s)", cluster)
	if prev != nil {
		prev.stop()
	} else if err := env.StopServe(); err != nil {
		return nil, serveRow{}, err
	}
	logf, err := os.CreateTemp(logDir, "serve-*.log")
	if err != nil {
		return nil, serveRow{}, err
	}
	s := &server{log: logf}
	if profileDir != "" {
		s.pprof = fmt.Sprintf("127.0.0.1:%d", freePort())
	}
	s.cmd = exec.Command(filepath.Join(env.Dir, "canarygate"), serveArgs(env, s.pprof)...)
	s.cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(env.Dir, "canarygate.kubeconfig"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, serveRow{}, fmt.Errorf("starting canarygate serve: %w", err)
	}
	row := serveRow{Cluster: cluster}
	for {
		if ctx.Err() != nil || time.Since(start) > 2*time.Minute {
			s.stop()
			return nil, row, fmt.Errorf("canarygate serve not ready after %v (log %s)", time.Since(start), logf.Name())
		}
		resp, err := http.Get(env.ReadyURL)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	row.Ready = time.Since(start)
	time.Sleep(2 * time.Second) // caches synced; let start-up garbage be collected
	row.RSS, err = rss(s.cmd.Process.Pid)
	say("  ready in %v, RSS %.1f MiB", row.Ready, float64(row.RSS)/(1<<20))
	return s, row, err
}

// rss reads a process's resident set size.
func rss(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

// procStatus reads one memory field (in kB in the file) of
// /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// scaleBench loads the large cluster of issue 6 item 5 (100 namespaces,
// 10,000 Services, 5,000 Ingresses, 1,000 InferenceServices), restarts serve
// on it, and runs `canarygate check` on 1,000 and 10,000 objects.
func scaleBench(ctx context.Context, o options, env *harness.Env, cur **server, tmp string, res *results) (err error) {
	say("creating 16,100 objects in 100 namespaces (canarygate's webhooks unregistered meanwhile)")
	dir := filepath.Join(tmp, "cluster")
	files, err := writeManifests(dir, 100, 10, 100, 50)
	if err != nil {
		return err
	}
	// The part measures serve on a large cluster, not the load's
	// admission: without the webhooks the objects are created several
	// times faster. They are registered again before serve restarts.
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	regs := &apiBench{cs: cs}
	if err := regs.saveRegistrations(ctx); err != nil {
		return err
	}
	if err := regs.unregisterCanarygate(ctx); err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := regs.registerCanarygate(rctx); rerr != nil && err == nil {
			err = fmt.Errorf("registering canarygate's webhooks again: %w", rerr)
		}
	}()
	start := time.Now()
	work := make(chan string)
	errs := make(chan error, len(files))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for f := range work {
				if r := env.Run(ctx, "", "create", "-f", f); r.Code != 0 {
					errs <- fmt.Errorf("creating %s: %s", f, r.Output())
				}
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	res.Notes = append(res.Notes, fmt.Sprintf("large cluster: 16,100 objects created with `kubectl create` (4 in parallel, canarygate's webhooks unregistered meanwhile) in %v", time.Since(start).Round(time.Second)))
	srv, row, err := measureServe(ctx, env, *cur, tmp, o.ProfileDir, "10,000 Services, 5,000 Ingresses, 1,000 InferenceServices, 100 namespaces")
	*cur = srv
	if err != nil {
		return err
	}
	res.Serve = append(res.Serve, row)

	say("building canarygate for check")
	bin := filepath.Join(tmp, "canarygate")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/webhook")
	build.Dir = o.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building canarygate: %w: %s", err, out)
	}
	for _, n := range []int{1000, 10000} {
		ns := n / 100
		d := filepath.Join(tmp, fmt.Sprintf("check-%d", n))
		if _, err := writeManifests(d, ns, 10, 50, 40); err != nil {
			return err
		}
		var best checkRow
		for range max(1, o.Repeat) {
			row, err := runCheck(ctx, bin, d, n)
			if err != nil {
				return err
			}
			say("  check %d objects: %v, max RSS %.1f MiB, exit %d", n, row.Wall, float64(row.MaxRSS)/(1<<20), row.Exit)
			if best.Wall == 0 || row.Wall < best.Wall {
				best = row
			}
			res.Check = append(res.Check, row)
		}
	}
	return nil
}

// runCheck runs `canarygate check -f dir -o json` and measures it.
func runCheck(ctx context.Context, bin, dir string, n int) (checkRow, error) {
	cmd := exec.CommandContext(ctx, bin, "check", "-f", dir, "-o", "json")
	cmd.Stdout = nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return checkRow{}, err
	}
	// The peak RSS is sampled from /proc (VmHWM, the high-water mark of the
	// process's own memory) while it runs: the rusage of a child counts the
	// memory of the parent it was started from (the runner, hundreds of
	// MiB by now) as its own.
	var peak int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := procStatus(cmd.Process.Pid, "VmHWM:"); err == nil {
				peak = max(peak, v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-sampled
	row := checkRow{Objects: n, Wall: time.Since(start), MaxRSS: peak}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		row.Exit = exit.ExitCode()
	case err != nil:
		return row, err
	}
	if row.Exit == 2 {
		return row, fmt.Errorf("canarygate check on %s failed (exit 2)", dir)
	}
	return row, nil
}

// writeManifests writes one file per namespace: the Namespace, isvcs
// InferenceServices, svcs Services selecting them in turn and ings main
// Ingresses with a host each, routing to the Services in turn. It returns
// the files.
func writeManifests(dir string, namespaces, isvcs, svcs, ings int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for n := range namespaces {
		ns := fmt.Sprintf("bench-%03d", n)
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns)
		for i := range isvcs {
			fmt.Fprintf(&b, "---\napiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: model-%d\n  namespace: %s\nspec:\n  predictor:\n    model:\n      modelFormat:\n        name: sklearn\n      storageUri: gs://models/%d\n", i, ns, i)
		}
		for i := range svcs {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: %s\nspec:\n  selector:\n    serving.kserve.io/inferenceservice: model-%d\n  ports:\n  - port: 80\n    targetPort: 8080\n", i, ns, i%isvcs)
		}
		for i := range ings {
			fmt.Fprintf(&b, "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ing-%d\n  namespace: %s\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: h%d.%s.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: svc-%d\n            port:\n              number: 80\n", i, ns, i, ns, i%svcs)
		}
		f := filepath.Join(dir, ns+".yaml")
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}
