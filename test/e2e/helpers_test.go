//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/canarygate/canarygate/test/harness"
)

// fixtureHost is the host every reference fixture routes.
const fixtureHost = "model.example.com"

var namespaces atomic.Int64

// kubectl runs kubectl as the scenario's user (alice, system:masters).
func kubectl(ctx context.Context, args ...string) harness.Result {
	GinkgoHelper()
	return kubectlIn(ctx, "", args...)
}

// kubectlIn runs kubectl with stdin.
func kubectlIn(ctx context.Context, stdin string, args ...string) harness.Result {
	GinkgoHelper()
	r := env.Run(ctx, stdin, args...)
	GinkgoWriter.Printf("$ kubectl %s (exit %d)\n%s", strings.Join(r.Args, " "), r.Code, r.Output())
	return r
}

// succeed runs kubectl and fails the spec unless it exits 0.
func succeed(ctx context.Context, args ...string) harness.Result {
	GinkgoHelper()
	r := kubectl(ctx, args...)
	Expect(r.Code).To(Equal(0), r.Output())
	return r
}

// fixture is the path of a file under test/fixtures.
func fixture(name string) string {
	return filepath.Join(env.Root, "test", "fixtures", name)
}

// newNamespace creates a namespace for one spec and deletes it afterwards.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := fmt.Sprintf("e2e-%d-%d", namespaces.Add(1), time.Now().UnixNano()%1_000_000)
	Expect(kubectl(ctx, "create", "namespace", ns).Code).To(Equal(0))
	DeferCleanup(func(ctx SpecContext) {
		kubectl(ctx, "delete", "namespace", ns, "--wait=false", "--ignore-not-found")
	})
	return ns
}

// hostOf is the host a namespace's copies of the fixtures route: ingress-nginx
// merges routes by host across namespaces, and so does canarygate, so specs
// sharing model.example.com would judge each other's routes.
func hostOf(ns string) string { return ns + ".example.com" }

// copyFixture writes fixture name into dir as file `as`, with the host
// replaced by the namespace's own, and returns the new path.
func copyFixture(dir, ns, name, as string) string {
	GinkgoHelper()
	raw, err := os.ReadFile(fixture(name))
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(dir, as)
	Expect(os.WriteFile(path, []byte(strings.ReplaceAll(string(raw), fixtureHost, hostOf(ns))), 0o600)).To(Succeed())
	return path
}

// manifest is a namespace's copy of a fixture, under the fixture's own file name.
func manifest(ns, name string) string {
	GinkgoHelper()
	return copyFixture(GinkgoT().TempDir(), ns, name, filepath.Base(name))
}

// apply runs `kubectl apply -n ns -f` on the namespace's copy of a fixture.
func apply(ctx context.Context, ns, name string, extra ...string) harness.Result {
	GinkgoHelper()
	return kubectl(ctx, append([]string{"apply", "-n", ns, "-f", manifest(ns, name)}, extra...)...)
}

// applyAll applies fixtures one by one and fails the spec on the first that
// kubectl does not accept.
func applyAll(ctx context.Context, ns string, names ...string) {
	GinkgoHelper()
	for _, n := range names {
		r := apply(ctx, ns, n)
		Expect(r.Code).To(Equal(0), "%s: %s", n, r.Output())
	}
}

// markReady plays KServe's controller: it reports the InferenceService Ready
// for its current generation.
func markReady(ctx context.Context, ns, name string) {
	GinkgoHelper()
	gen := get(ctx, ns, "inferenceservice/"+name, "{.metadata.generation}")
	Expect(gen).NotTo(BeEmpty())
	status := fmt.Sprintf(`{"status":{"observedGeneration":%s,"conditions":[`+
		`{"type":"PredictorReady","status":"True"},{"type":"IngressReady","status":"True"},{"type":"Ready","status":"True"}]}}`, gen)
	succeed(ctx, "patch", "inferenceservice", name, "-n", ns, "--subresource=status", "--type=merge", "-p", status)
}

// get reads a jsonpath of one object; it fails the spec if the object cannot be read.
func get(ctx context.Context, ns, ref, jsonpath string) string {
	GinkgoHelper()
	r := kubectl(ctx, "get", ref, "-n", ns, "-o", "jsonpath="+jsonpath)
	Expect(r.Code).To(Equal(0), r.Output())
	return r.Stdout
}

// annotations are an object's annotations.
func annotations(ctx context.Context, ns, ref string) map[string]string {
	GinkgoHelper()
	out := map[string]string{}
	if raw := get(ctx, ns, ref, "{.metadata.annotations}"); raw != "" {
		Expect(json.Unmarshal([]byte(raw), &out)).To(Succeed())
	}
	return out
}

// strategy keeps the nginx canary annotations (canary, canary-weight, …).
func strategy(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if strings.HasPrefix(k, "nginx.ingress.kubernetes.io/canary") {
			out[k] = v
		}
	}
	return out
}

// canaryStrategy polls the strategy the canary Ingress carries.
func canaryStrategy(ctx context.Context, ns string) func(Gomega) map[string]string {
	return func(g Gomega) map[string]string {
		ann := map[string]string{}
		raw := poll(ctx, g, ns, "ingress/gray-release-canary", "{.metadata.annotations}")
		g.Expect(json.Unmarshal([]byte(raw), &ann)).To(Succeed())
		return strategy(ann)
	}
}

// canaryWeight polls the canary-weight of the canary Ingress.
func canaryWeight(ctx context.Context, ns string) func(Gomega) string {
	return func(g Gomega) string {
		return poll(ctx, g, ns, "ingress/gray-release-canary", `{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}`)
	}
}

// poll is get for Eventually and Consistently: a failed read fails the
// attempt, not the spec.
func poll(ctx context.Context, g Gomega, ns, ref, jsonpath string) string {
	r := kubectl(ctx, "get", ref, "-n", ns, "-o", "jsonpath="+jsonpath)
	g.Expect(r.Code).To(Equal(0), r.Output())
	return r.Stdout
}

// denied is the text kubectl prints when webhook denies a request.
func denied(webhook, code string) string {
	return fmt.Sprintf("admission webhook %q denied the request: [%s]", webhook, code)
}

// ownControlPlane starts a second control plane with canarygate for a spec
// that needs one set up differently from the suite's, and stops it after
// the spec.
func ownControlPlane(ctx context.Context, opts harness.Options) *harness.Env {
	GinkgoHelper()
	root, err := filepath.Abs("../..")
	Expect(err).NotTo(HaveOccurred())
	opts.Root, opts.Log, opts.Timeout = root, GinkgoWriter, 4*time.Minute
	e, err := harness.Start(ctx, opts)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(e.Stop()).To(Succeed()) })
	return e
}
