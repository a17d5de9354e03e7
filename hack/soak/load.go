package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canarygate/canarygate/test/harness"
)

// ns is the namespace the soak seeds; nothing else runs in its control plane.
const ns = "soak"

// uidMark is replaced in each review body by a fresh request UID.
const uidMark = "@@UID@@"

// review is one AdmissionReview of the mix and the answer it must get.
type review struct {
	name     string
	path     string
	body     []byte
	allowed  bool
	code     string // the decision code the message must start with ("" for none)
	patch    bool   // a JSON patch is expected
	governed bool   // false: canarygate answers "kind not governed"
}

// seed applies the reference release to the soak namespace, marks both
// InferenceServices Ready, and returns the review mix, built from the
// objects as the API server holds them.
func seed(ctx context.Context, env *harness.Env) ([]review, error) {
	fx := filepath.Join(env.Root, "test", "fixtures", "scenario")
	steps := [][]string{
		{"create", "namespace", ns},
		{"apply", "-n", ns, "-f", filepath.Join(fx, "00-isvc-model-v1.yaml")},
		{"apply", "-n", ns, "-f", filepath.Join(fx, "00-isvc-model-v2.yaml")},
		{"apply", "-n", ns, "-f", filepath.Join(fx, "01-services.yaml")},
		{"apply", "-n", ns, "-f", filepath.Join(fx, "02-ingress.yaml")},
		{"apply", "-n", ns, "-f", filepath.Join(fx, "03b-canary-weight.yaml")},
		{"create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080"},
	}
	for _, s := range steps {
		if r := env.Run(ctx, "", s...); r.Code != 0 {
			return nil, fmt.Errorf("seeding: kubectl %s: %s", strings.Join(s, " "), r.Output())
		}
	}
	for _, isvc := range []string{"model-v1", "model-v2"} {
		status := `{"status":{"observedGeneration":1,"conditions":[{"type":"PredictorReady","status":"True"},{"type":"IngressReady","status":"True"},{"type":"Ready","status":"True"}]}}`
		if r := env.Run(ctx, "", "patch", "inferenceservice", isvc, "-n", ns, "--subresource=status", "--type=merge", "-p", status); r.Code != 0 {
			return nil, fmt.Errorf("seeding: marking %s Ready: %s", isvc, r.Output())
		}
	}
	obj := map[string]map[string]any{}
	for _, ref := range []string{"inferenceservice/model-v2", "service/model-svc", "service/model-v2-svc", "ingress/model-ingress", "ingress/gray-release-canary"} {
		r := env.Run(ctx, "", "get", ref, "-n", ns, "-o", "json")
		if r.Code != 0 {
			return nil, fmt.Errorf("seeding: reading %s: %s", ref, r.Output())
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil {
			return nil, fmt.Errorf("seeding: %s: %w", ref, err)
		}
		obj[ref] = m
	}

	svc, ing, isvc := obj["service/model-svc"], obj["ingress/gray-release-canary"], obj["inferenceservice/model-v2"]
	switched := edit(svc, func(m map[string]any) {
		m["spec"].(map[string]any)["selector"] = map[string]any{"serving.kserve.io/inferenceservice": "model-v2"}
	})
	weight := func(w string) map[string]any {
		return edit(ing, func(m map[string]any) { annotations(m)["nginx.ingress.kubernetes.io/canary-weight"] = w })
	}
	newCanary := edit(ing, func(m map[string]any) {
		md := m["metadata"].(map[string]any)
		for _, k := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"} {
			delete(md, k)
		}
		md["name"] = "soak-canary-b"
		delete(annotations(m), "canarygate.io/canary-since")
		delete(annotations(m), "kubectl.kubernetes.io/last-applied-configuration")
	})
	secondMain := edit(obj["ingress/model-ingress"], func(m map[string]any) {
		md := m["metadata"].(map[string]any)
		for _, k := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"} {
			delete(md, k)
		}
		md["name"] = "model-ingress-2"
	})
	verified := edit(isvc, func(m map[string]any) { annotations(m)["canarygate.io/verified"] = "true" })
	configMap := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings", "namespace": ns}}

	const gate, lint, mutate = "/validate/gate", "/validate/lint", "/mutate"
	mix := []review{
		{name: "gate: switch to unverified model-v2", path: gate, body: body("UPDATE", switched, svc), code: "[CG301]", governed: true},
		{name: "mutate: switch stamps the rollback target", path: mutate, body: body("UPDATE", switched, svc), allowed: true, patch: true, governed: true},
		{name: "lint: switch", path: lint, body: body("UPDATE", switched, svc), allowed: true, governed: true},
		{name: "gate: canary weight 30", path: gate, body: body("UPDATE", weight("30"), ing), allowed: true, governed: true},
		{name: "gate: canary weight 80", path: gate, body: body("UPDATE", weight("80"), ing), code: "[CG302]", governed: true},
		{name: "lint: canary weight 50%", path: lint, body: body("UPDATE", weight("50%"), ing), code: "[CG102]", governed: true},
		{name: "mutate: new canary is stamped", path: mutate, body: body("CREATE", newCanary, nil), allowed: true, patch: true, governed: true},
		{name: "gate: delete model-v2-svc", path: gate, body: body("DELETE", nil, obj["service/model-v2-svc"]), code: "[CG502]", governed: true},
		{name: "gate: verify model-v2", path: gate, body: body("UPDATE", verified, isvc), allowed: true, governed: true},
		{name: "mutate: verify model-v2 is stamped", path: mutate, body: body("UPDATE", verified, isvc), allowed: true, patch: true, governed: true},
		{name: "lint: second main route", path: lint, body: body("CREATE", secondMain, nil), code: "[CG202]", governed: true},
		{name: "gate: ConfigMap", path: gate, body: body("CREATE", configMap, nil), allowed: true},
	}
	for _, r := range mix {
		if r.body == nil {
			return nil, fmt.Errorf("seeding: review %q did not encode", r.name)
		}
	}
	return mix, nil
}

// edit returns a deep copy of m changed by f.
func edit(m map[string]any, f func(map[string]any)) map[string]any {
	raw, _ := json.Marshal(m)
	var c map[string]any
	_ = json.Unmarshal(raw, &c)
	f(c)
	return c
}

// annotations returns the object's annotations, creating them if needed.
func annotations(m map[string]any) map[string]any {
	md := m["metadata"].(map[string]any)
	a, ok := md["annotations"].(map[string]any)
	if !ok {
		a = map[string]any{}
		md["annotations"] = a
	}
	return a
}

// body encodes the AdmissionReview the API server sends for a request of
// alice (system:masters) on obj (old on UPDATE and DELETE).
func body(op string, obj, old map[string]any) []byte {
	subject := obj
	if subject == nil {
		subject = old
	}
	apiVersion, _ := subject["apiVersion"].(string)
	kind, _ := subject["kind"].(string)
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		group, version = "", apiVersion
	}
	resource := map[string]string{"Service": "services", "Ingress": "ingresses", "InferenceService": "inferenceservices", "ConfigMap": "configmaps"}[kind]
	md := subject["metadata"].(map[string]any)
	gvk := map[string]string{"group": group, "version": version, "kind": kind}
	gvr := map[string]string{"group": group, "version": version, "resource": resource}
	req := map[string]any{
		"uid": uidMark, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
		"name": md["name"], "namespace": ns, "operation": op,
		"userInfo": map[string]any{"username": harness.User, "groups": []string{"system:masters", "system:authenticated"}},
	}
	if obj != nil {
		req["object"] = obj
	}
	if old != nil {
		req["oldObject"] = old
	}
	out, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	if err != nil {
		return nil
	}
	return out
}

// load sends the mix at a fixed rate.
type load struct {
	client *http.Client
	base   string
	mix    []review
	rate   float64
	slow   time.Duration
	jobs   chan int

	seq atomic.Int64
	mu  sync.Mutex
	cur window // since the last call of window
	all window
}

// window is what happened to the requests of one sample interval.
type window struct {
	sent, failed, dropped, slow int
	latencies                   []time.Duration
	examples                    []string // the first failures, for the report
}

func newLoad(env *harness.Env, mix []review, c config) *load {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.Env.WebhookInstallOptions.LocalServingCAData)
	o := env.Env.WebhookInstallOptions
	return &load{
		client: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				MaxIdleConnsPerHost: c.workers,
				MaxConnsPerHost:     c.workers,
			},
		},
		base: "https://" + net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort)),
		mix:  mix, rate: c.rate, slow: c.maxLatency,
		jobs: make(chan int, c.workers),
	}
}

// run sends one review per tick for at most d (and at most rate×d reviews),
// with at most cap(jobs) in flight; a tick that finds every worker busy is
// dropped and counted.
func (l *load) run(ctx context.Context, d time.Duration) {
	var wg sync.WaitGroup
	for range cap(l.jobs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range l.jobs {
				l.send(ctx, l.mix[i%len(l.mix)])
			}
		}()
	}
	defer func() { close(l.jobs); wg.Wait() }()
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.rate))
	defer tick.Stop()
	deadline := time.After(d)
	limit := int(l.rate*d.Seconds()) + 1
	for i := 0; i < limit; i++ {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-tick.C:
		}
		select {
		case l.jobs <- i:
		default:
			l.record(0, fmt.Sprintf("tick %d dropped: all %d workers busy (canarygate cannot keep up with %.0f/s)", i, cap(l.jobs), l.rate), true)
		}
	}
}

// send posts one review and checks the answer.
func (l *load) send(ctx context.Context, r review) {
	uid := fmt.Sprintf("soak-%d", l.seq.Add(1))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+r.path+"?timeout=5s", bytes.NewReader(bytes.Replace(r.body, []byte(uidMark), []byte(uid), 1)))
	if err != nil {
		l.record(0, err.Error(), false)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // the run ended
		}
		l.record(time.Since(start), fmt.Sprintf("%s: %v", r.name, err), false)
		return
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		l.record(took, fmt.Sprintf("%s: reading the answer: %v", r.name, err), false)
		return
	}
	if why := r.check(resp.StatusCode, raw, uid); why != "" {
		l.record(took, r.name+": "+why, false)
		return
	}
	if took > l.slow {
		l.record(took, fmt.Sprintf("%s: answered after %s, over %s", r.name, took.Round(time.Millisecond), l.slow), false)
		return
	}
	l.record(took, "", false)
}

// check returns why an answer is not the one the review must get ("" if it is).
func (r review) check(status int, raw []byte, uid string) string {
	if status != http.StatusOK {
		return fmt.Sprintf("HTTP %d %q", status, raw)
	}
	var rev struct {
		Response *struct {
			UID      string   `json:"uid"`
			Allowed  bool     `json:"allowed"`
			Patch    []byte   `json:"patch"`
			Warnings []string `json:"warnings"`
			Status   *struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(raw, &rev); err != nil || rev.Response == nil {
		return fmt.Sprintf("not an AdmissionReview answer: %q", raw)
	}
	a := rev.Response
	msg := ""
	if a.Status != nil {
		msg = a.Status.Message
	}
	switch {
	case a.UID != uid:
		return fmt.Sprintf("answered UID %q, want %q", a.UID, uid)
	case a.Allowed != r.allowed:
		return fmt.Sprintf("allowed=%v, want %v: %s", a.Allowed, r.allowed, msg)
	case r.code != "" && !strings.HasPrefix(msg, r.code):
		return fmt.Sprintf("message %q, want it to start with %s", msg, r.code)
	case (len(a.Patch) > 0) != r.patch:
		return fmt.Sprintf("patch %q, want a patch: %v", a.Patch, r.patch)
	case !r.governed && msg != "kind not governed by canarygate":
		return fmt.Sprintf("message %q for an ungoverned kind", msg)
	}
	for _, w := range append(a.Warnings, msg) {
		if strings.Contains(w, "could not decide") || strings.Contains(w, "internal error") {
			return "canarygate could not decide: " + w
		}
	}
	return ""
}

func (l *load) record(took time.Duration, failure string, dropped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Only the current window keeps latencies: the run's would grow with
	// the run, in the very process that measures memory.
	if !dropped {
		l.cur.latencies = append(l.cur.latencies, took)
	}
	for _, w := range []*window{&l.cur, &l.all} {
		switch {
		case dropped:
			w.dropped++
		default:
			w.sent++
			if took > l.slow {
				w.slow++
			}
			if failure != "" {
				w.failed++
			}
		}
		switch {
		case failure == "":
		case dropped && w.dropped == 1:
			w.examples = append(w.examples, "first "+failure)
		case !dropped && w.failed <= 10:
			w.examples = append(w.examples, failure)
		}
	}
}

// window returns the requests since the last call and starts a new window.
func (l *load) window() window {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.cur
	l.cur = window{}
	return w
}

func (l *load) totals() window {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all
}

// percentile returns the p-th percentile of a window's latencies.
func (w window) percentile(p float64) time.Duration {
	if len(w.latencies) == 0 {
		return 0
	}
	s := slices.Clone(w.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// churn writes through the API server once per sample, so the caches, the
// indexes and the sync controller keep working during the soak.
type churn struct {
	env      *harness.Env
	n        int
	failures []string
}

func newChurn(env *harness.Env) *churn { return &churn{env: env} }

func (c *churn) step(ctx context.Context) {
	c.n++
	for _, args := range [][]string{
		{"annotate", "service", "web", "-n", ns, fmt.Sprintf("example.com/tick=%d", c.n), "--overwrite"},
		{"annotate", "ingress", "gray-release-canary", "-n", ns, fmt.Sprintf("nginx.ingress.kubernetes.io/canary-weight=%d", 10+10*(c.n%2)), "--overwrite"},
	} {
		if r := c.env.Run(ctx, "", args...); r.Code != 0 && ctx.Err() == nil {
			c.failures = append(c.failures, fmt.Sprintf("kubectl %s: %s", strings.Join(args, " "), strings.TrimSpace(r.Output())))
		}
	}
}
