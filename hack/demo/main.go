// Command demo plays canarygate's reference release (model-v1 → model-v2
// behind ingress-nginx) against a real local control plane: it starts etcd,
// kube-apiserver, kube-controller-manager and `canarygate serve`, then runs
// each step with the real kubectl, printing the command, one line saying
// why, and kubectl's real output — the denial of the early switch included.
// It stops every process it started on exit, also on Ctrl-C; with -keep it
// leaves them running and prints the KUBECONFIG to use.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/canarygate/canarygate/test/harness"
)

const ns = "default"

func main() {
	keep := flag.Bool("keep", false, "leave the control plane and canarygate running and print the KUBECONFIG")
	root := flag.String("root", ".", "repository root")
	verbose := flag.Bool("v", false, "show the control plane's logs")
	flag.Parse()
	os.Exit(run(*root, *keep, *verbose))
}

func run(root string, keep, verbose bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logw := os.Stderr
	opts := harness.Options{Root: abs, Timeout: 4 * time.Minute}
	if verbose {
		opts.Log = logw
	} else {
		opts.Log = progress{}
	}
	say("Starting a local control plane (etcd, kube-apiserver, kube-controller-manager) and canarygate serve")
	env, err := harness.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 2
	}
	if !keep {
		defer func() {
			say("Stopping everything the demo started")
			if err := env.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "demo: cleanup: %v\n", err)
			}
		}()
	}
	d := demo{env: env, ctx: ctx, fx: filepath.Join(abs, "test", "fixtures", "scenario")}
	ok := d.play()
	if keep {
		fmt.Printf("\nLeft running. Use it with:\n  export KUBECONFIG=%s\n  %s get isvc,svc,ingress -n %s\nStop it with: kill -- -%d (and the processes of %s)\n",
			env.Kubeconfig, env.Kubectl, ns, os.Getpid(), env.Dir)
		<-ctx.Done()
		_ = env.Stop()
	}
	if !ok {
		return 1
	}
	return 0
}

type demo struct {
	env *harness.Env
	ctx context.Context
	fx  string
	bad bool
}

func (d *demo) play() bool {
	step := func(why string, wantOK bool, args ...string) {
		if d.ctx.Err() != nil {
			return
		}
		fmt.Printf("\n\033[1m# %s\033[0m\n$ kubectl %s\n", why, strings.Join(args, " "))
		r := d.env.Run(d.ctx, "", args...)
		fmt.Print(indent(r.Output()))
		if (r.Code == 0) != wantOK {
			d.bad = true
			fmt.Printf("  !! expected the command to %s\n", map[bool]string{true: "succeed", false: "be refused"}[wantOK])
		}
	}
	f := func(name string) string { return filepath.Join(d.fx, name) }
	step("Step 0: two InferenceServices, model-v1 (stable) and model-v2 (canary)", true, "apply", "-n", ns, "-f", f("00-isvc-model-v1.yaml"), "-f", f("00-isvc-model-v2.yaml"))
	step("KServe would now report both Ready; the demo plays its controller", true, "patch", "isvc", "model-v1", "-n", ns, "--subresource=status", "--type=merge", "-p", readyPatch)
	step("", true, "patch", "isvc", "model-v2", "-n", ns, "--subresource=status", "--type=merge", "-p", readyPatch)
	step("model-v1 is the version in production: mark it verified", true, "annotate", "isvc", "model-v1", "-n", ns, "canarygate.io/verified=true")
	step("Step 1: a Service per version (a first deployment is always allowed)", true, "apply", "-n", ns, "-f", f("01-services.yaml"))
	step("Step 2: the main Ingress model.example.com/ → model-svc", true, "apply", "-n", ns, "-f", f("02-ingress.yaml"))
	step("Step 3a: a canary Ingress sending requests with 'foo: bar' to model-v2", true, "apply", "-n", ns, "-f", f("03a-canary-header.yaml"))
	step("Step 3b: the same canary with 20 % of the traffic by weight", true, "apply", "-n", ns, "-f", f("03b-canary-weight.yaml"))
	step("canarygate stamped when the canary was first exposed", true, "get", "ingress", "gray-release-canary", "-n", ns, "-o", "jsonpath={.metadata.annotations}{\"\\n\"}")
	step("A weight nginx would silently read as 0 is refused", false, "annotate", "ingress", "gray-release-canary", "-n", ns, "--overwrite", "nginx.ingress.kubernetes.io/canary-weight=50%")
	step("Step 4: switching model-svc to model-v2 before anyone verified it is refused", false, "apply", "-n", ns, "-f", f("04-switch.yaml"))
	step("Someone checks model-v2's canary traffic and marks it verified", true, "annotate", "isvc", "model-v2", "-n", ns, "canarygate.io/verified=true")
	step("canarygate stamped who verified it, when, and at which generation", true, "get", "isvc", "model-v2", "-n", ns, "-o", "jsonpath={.metadata.annotations}{\"\\n\"}")
	step("Step 4 again: the switch now passes", true, "apply", "-n", ns, "-f", f("04-switch.yaml"))
	step("Step 5, wrong order: deleting model-v2-svc while the canary still routes to it is refused", false, "delete", "service", "model-v2-svc", "-n", ns)
	step("Step 5: remove the canary Ingress first", true, "delete", "ingress", "gray-release-canary", "-n", ns)
	step("then the old version", true, "delete", "isvc", "model-v1", "-n", ns)
	step("then the canary's Service", true, "delete", "service", "model-v2-svc", "-n", ns)
	step("The release is done: model-svc serves model-v2", true, "get", "service", "model-svc", "-n", ns, "-o", "jsonpath={.spec.selector}{\"\\n\"}")
	if d.ctx.Err() != nil {
		return false
	}
	if d.bad {
		fmt.Println("\nThe demo did not go as expected (see !! above).")
		return false
	}
	fmt.Println("\nEvery step behaved as expected.")
	return true
}

const readyPatch = `{"status":{"observedGeneration":1,"conditions":[{"type":"PredictorReady","status":"True"},{"type":"IngressReady","status":"True"},{"type":"Ready","status":"True"}]}}`

func say(s string) { fmt.Printf("\033[1m== %s\033[0m\n", s) }

func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

// progress prints the harness's own progress lines and drops the rest.
type progress struct{}

func (progress) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if strings.HasPrefix(line, "harness: ") {
			fmt.Fprintln(os.Stderr, "  "+strings.TrimPrefix(line, "harness: "))
		}
	}
	return len(p), nil
}
