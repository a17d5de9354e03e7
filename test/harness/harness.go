// Package harness starts a real local control plane for canarygate's e2e
// suite and demo: etcd and kube-apiserver through controller-runtime's
// envtest, kube-controller-manager running the namespace and
// garbage-collector controllers as system:kube-controller-manager (an
// identity the gate exempts), the InferenceService CRD, and `canarygate
// serve` with a real TLS certificate, registered through the webhook
// configurations config/webhook/ ships with only the client config swapped
// for the local URL and CA. Binaries come from bin/controlplane (built by
// `make controlplane` from the Go module proxy); nothing is downloaded.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Users of the control plane.
const (
	// User runs kubectl in the scenarios; stamps name it.
	User = "alice"
	// ControllerManager is the identity kube-controller-manager runs as.
	ControllerManager = "system:kube-controller-manager"
	// ServeUser is canarygate's own identity.
	ServeUser = "system:serviceaccount:canarygate-system:canarygate"
)

// Options configures Start.
type Options struct {
	// Root is the repository root.
	Root string
	// Log receives the output of every process started (nil: discarded).
	Log io.Writer
	// Timeout bounds the whole start.
	Timeout time.Duration
	// NoInferenceServiceCRD starts without the InferenceService CRD;
	// canarygate then runs but stays not ready, so Start waits only until
	// its probe endpoint answers.
	NoInferenceServiceCRD bool
	// ServeArgs are extra flags for `canarygate serve` (e.g. --policy).
	ServeArgs []string
}

// Env is a running control plane with canarygate.
type Env struct {
	Root    string
	Dir     string
	Env     *envtest.Environment
	Config  *rest.Config
	Kubectl string
	// Kubeconfig is User's kubeconfig.
	Kubeconfig string
	// ReadyURL is canarygate's /readyz.
	ReadyURL string

	log         io.Writer
	wantReady   bool
	serveBinary string
	serveArgs   []string
	serve       *exec.Cmd
	kcm         *exec.Cmd
}

// Start brings everything up; on error it stops whatever it started.
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	assets := filepath.Join(opts.Root, "bin", "controlplane")
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run `make controlplane` first: %w", b, assets, err)
		}
	}
	dir, err := os.MkdirTemp("", "canarygate-e2e-")
	if err != nil {
		return nil, err
	}
	e := &Env{Root: opts.Root, Dir: dir, Kubectl: filepath.Join(assets, "kubectl"), log: opts.Log}
	defer func() {
		if err != nil {
			_ = e.Stop()
		}
	}()

	e.say("building canarygate")
	e.serveBinary = filepath.Join(dir, "canarygate")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.serveBinary, "./cmd/webhook")
	build.Dir = opts.Root
	build.Stdout, build.Stderr = e.log, e.log
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building canarygate: %w", err)
	}

	e.say("starting etcd and kube-apiserver")
	crds := []string{filepath.Join(opts.Root, "test", "crds")}
	if opts.NoInferenceServiceCRD {
		crds = nil
	}
	e.wantReady = !opts.NoInferenceServiceCRD
	e.Env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths:            []string{filepath.Join(opts.Root, "config", "webhook", "webhooks.yaml")},
			LocalServingHost: "127.0.0.1",
		},
	}
	// Loopback only: without these the API server advertises the machine's
	// own address, and a machine without one (an isolated network) never
	// starts it.
	api := e.Env.ControlPlane.GetAPIServer()
	api.Configure().Set("advertise-address", "127.0.0.1")
	api.Configure().Set("endpoint-reconciler-type", "none")
	// Room for the benchmarks' 10,000 Services (envtest's default /24
	// holds 254 cluster IPs).
	api.Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	if e.Config, err = e.Env.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	if e.Kubeconfig, err = e.kubeconfig(User, "alice"); err != nil {
		return nil, err
	}
	kcmConfig, err := e.kubeconfig(ControllerManager, "kcm")
	if err != nil {
		return nil, err
	}
	serveConfig, err := e.kubeconfig(ServeUser, "canarygate")
	if err != nil {
		return nil, err
	}

	e.say("starting kube-controller-manager (namespace and garbage-collector controllers)")
	e.kcm = exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig", kcmConfig,
		"--authentication-kubeconfig", kcmConfig,
		"--authorization-kubeconfig", kcmConfig,
		"--authentication-skip-lookup",
		"--controllers", "namespace-controller,garbage-collector-controller",
		"--leader-elect=false",
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(freePort()),
		"--cert-dir", filepath.Join(dir, "kcm-certs"),
	)
	e.kcm.Stdout, e.kcm.Stderr = e.log, e.log
	e.kcm.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.kcm.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}

	probe := freePort()
	e.ReadyURL = fmt.Sprintf("http://127.0.0.1:%d/readyz", probe)
	e.serveArgs = []string{"serve",
		"--kubeconfig", serveConfig,
		"--port", strconv.Itoa(e.Env.WebhookInstallOptions.LocalServingPort),
		"--cert-dir", e.Env.WebhookInstallOptions.LocalServingCertDir,
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", probe),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", freePort()),
		"--dev-log",
		"--shutdown-delay", "1s",
	}
	e.serveArgs = append(e.serveArgs, opts.ServeArgs...)
	if err := e.StartServe(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// StartServe starts `canarygate serve` and waits until it is ready.
func (e *Env) StartServe(ctx context.Context) error {
	e.say("starting canarygate serve")
	e.serve = exec.Command(e.serveBinary, e.serveArgs...)
	e.serve.Stdout, e.serve.Stderr = e.log, e.log
	e.serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.serve.Start(); err != nil {
		return fmt.Errorf("starting canarygate serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- e.serve.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			e.serve = nil
			return fmt.Errorf("canarygate serve exited before it was ready: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("canarygate serve not ready at %s: %w", e.ReadyURL, ctx.Err())
		case <-tick.C:
			resp, err := http.Get(e.ReadyURL)
			if err != nil {
				continue
			}
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				e.say("canarygate is ready")
				return nil
			}
			if !e.wantReady {
				e.say("canarygate answers its probes (not ready, as expected)")
				return nil
			}
		}
	}
}

// StopServe stops `canarygate serve` (SIGTERM, then SIGKILL after 10 s).
func (e *Env) StopServe() error {
	return stop(e.serve)
}

// Stop stops every process the harness started and removes its files.
func (e *Env) Stop() error {
	var errs []error
	errs = append(errs, stop(e.serve), stop(e.kcm))
	if e.Env != nil {
		errs = append(errs, e.Env.Stop())
	}
	errs = append(errs, os.RemoveAll(e.Dir))
	return errors.Join(errs...)
}

func stop(cmd *exec.Cmd) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_, _ = cmd.Process.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return nil
}

// kubeconfig writes a kubeconfig for a user in system:masters.
func (e *Env) kubeconfig(name, file string) (string, error) {
	u, err := e.Env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("adding user %s: %w", name, err)
	}
	raw, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.Dir, file+".kubeconfig")
	return path, os.WriteFile(path, raw, 0o600)
}

// Result is one kubectl run.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int
}

// Output is stdout and stderr together, as a person sees them.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Run runs kubectl as User with optional stdin.
func (e *Env) Run(ctx context.Context, stdin string, args ...string) Result {
	cmd := exec.CommandContext(ctx, e.Kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Args: args, Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		res.Code = -1
		res.Stderr += err.Error()
	}
	return res
}

// say reports progress on the log.
func (e *Env) say(msg string) { _, _ = fmt.Fprintln(e.log, "harness: "+msg) }

// freePort returns a free TCP port on the loopback interface.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
