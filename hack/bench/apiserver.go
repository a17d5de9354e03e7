package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/canarygate/canarygate/test/harness"
)

// apiRow is one configuration × operation class, medians over rounds.
type apiRow struct {
	Config, Op       string
	P50, P99         time.Duration
	Added50, Added99 time.Duration
	Calls, Errors    int
}

// The three configurations of part 4, in the order of the first round.
const (
	apiCfgNone       = "no webhook"
	apiCfgCanarygate = "canarygate"
	apiCfgGatekeeper = "Gatekeeper"
)

// The operation classes, in the order each cycle of the workload runs them.
const (
	apiOpCreate = "Ingress create"
	apiOpUpdate = "Ingress update"
	apiOpSwitch = "Service selector switch"
	apiOpDelete = "Ingress delete"
)

var apiOps = []string{apiOpCreate, apiOpUpdate, apiOpSwitch, apiOpDelete}

// apiWarmup is the number of workload cycles run and discarded after every
// configuration change: the API server's first calls through a newly
// registered webhook open connections and fill caches.
const apiWarmup = 20

// apiCycles is the number of measured cycles (one call of each class) per
// configuration and round: about 100 per second of -duration, bounded so
// `make bench` stays within minutes on 2 cores.
func apiCycles(o options) int {
	return min(1000, max(100, int(o.Duration.Seconds()*100)))
}

// apiRounds is the number of rounds: -repeat, but at least 2 so the
// configurations alternate (the second round runs them in reverse order).
func apiRounds(o options) int { return max(2, o.Repeat) }

var apiISVCGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// apiBench is the state of part 4: clients, the workload's objects and the
// registrations it switches between.
type apiBench struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
	ns  string

	// canarygate's webhook configurations as the harness registered them,
	// restored exactly (spec, labels, annotations) when the part ends.
	mutating   []admissionregistrationv1.MutatingWebhookConfiguration
	validating []admissionregistrationv1.ValidatingWebhookConfiguration
	gk         *gatekeeper // nil when Gatekeeper could not be started

	svc      *corev1.Service // the switched Service as last written
	warnings warningCounter
}

// warningCounter counts the API server's warnings (a rest.WarningHandler)
// and keeps the last; calls are sequential, so each is attributed to the
// call that received it.
type warningCounter struct {
	n    int
	last string
}

func (w *warningCounter) HandleWarningHeader(_ int, _ string, text string) {
	w.n++
	w.last = text
}

// apiserverBench runs item 4 on env (the harness control plane with
// canarygate serve running and its webhooks registered) and returns rows
// plus notes (commands, the template), logging progress with say(...). The
// webhook configurations are switched by deleting and recreating them;
// canarygate's are restored as they were, even on error. Without
// Gatekeeper (build or start failed) it still measures the other two
// configurations and says why in the notes.
//
// During canarygate's first round it also measures serve's CPU time per
// call and, with -profile, takes a CPU profile of serve (prof).
func apiserverBench(ctx context.Context, o options, env *harness.Env, tmp string, logf io.Writer) (rows []apiRow, prof *profileRow, notes []string, err error) {
	cfg := rest.CopyConfig(env.Config)
	// Calls are sequential; client-go's default limit of 5 per second would
	// be measured instead of the API server.
	cfg.QPS, cfg.Burst = 1e6, 1e6
	cfg.UserAgent = "canarygate-bench"
	b := &apiBench{ns: fmt.Sprintf("apibench-%d", time.Now().Unix()%100000)}
	// Counted, not logged: a warning means a decision path other than the
	// plain allow the workload is meant to measure.
	cfg.WarningHandler = &b.warnings
	if b.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, nil, nil, err
	}
	if b.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, nil, nil, err
	}
	if err := b.saveRegistrations(ctx); err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		// A fresh context: the run's may be cancelled, and later parts of
		// the bench need canarygate registered.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := b.restore(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring canarygate's webhook configurations: %w", rerr))
		}
		// Stopped only once its registration is gone.
		b.gk.stop()
		_ = b.cs.CoreV1().Namespaces().Delete(rctx, b.ns, metav1.DeleteOptions{})
	}()

	say("API server: seeding namespace %s (two verified InferenceServices, Services, main Ingresses)", b.ns)
	if err := b.seed(ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("seeding %s: %w", b.ns, err)
	}

	configs := []string{apiCfgNone, apiCfgCanarygate}
	say("API server: building and starting Gatekeeper")
	gk, gkNotes, gerr := startGatekeeper(ctx, o.Root, env, tmp, logf)
	notes = append(notes, gkNotes...)
	if gerr != nil {
		say("  Gatekeeper unavailable: %v", gerr)
		notes = append(notes, fmt.Sprintf("Gatekeeper was not measured: %v", gerr))
	} else {
		b.gk = gk
		configs = append(configs, apiCfgGatekeeper)
	}

	n, rounds := apiCycles(o), apiRounds(o)
	// samples[config][op][round]
	samples := map[string]map[string][]*apiSamples{}
	for _, c := range configs {
		samples[c] = map[string][]*apiSamples{}
		for _, op := range apiOps {
			samples[c][op] = make([]*apiSamples, rounds)
		}
	}
	for r := range rounds {
		order := slices.Clone(configs)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			if err := ctx.Err(); err != nil {
				return nil, nil, notes, err
			}
			say("API server: %s, round %d of %d: registering", c, r+1, rounds)
			if err := b.use(ctx, c); err != nil {
				return nil, nil, notes, err
			}
			if _, err := b.cycles(ctx, apiWarmup, r); err != nil {
				return nil, nil, notes, err
			}
			measure := c == apiCfgCanarygate && r == 0 && o.servePID != 0
			var profDone <-chan error
			profFile := filepath.Join(o.ProfileDir, "canarygate-apiserver.cpu.prof")
			if measure && o.servePprof != "" {
				// A window inside the round (its length is not known ahead).
				profDone = cpuProfile(o.servePprof, 5*time.Second, profFile)
			}
			cpu0, cpuErr := processCPU(o.servePID)
			got, err := b.cycles(ctx, n, r)
			if err != nil {
				return nil, nil, notes, err
			}
			if cpu1, err := processCPU(o.servePID); measure && err == nil && cpuErr == nil {
				calls := 0
				for _, s := range got {
					calls += len(s.lat) + s.errors
				}
				prof = &profileRow{Requests: calls, CPU: cpu1 - cpu0}
				if profDone != nil {
					if err := <-profDone; err != nil {
						say("  CPU profile: %v", err)
					} else if shares, total, err := cpuShares(profFile); err != nil {
						say("  CPU profile: %v", err)
					} else {
						prof.Shares, prof.Total = shares, total
					}
				}
			}
			for _, op := range apiOps {
				s := got[op]
				samples[c][op][r] = s
				say("  %s: p50 %s p99 %s errors %d/%d", op, ms(apiPct(s.lat, 0.50)), ms(apiPct(s.lat, 0.99)), s.errors, len(s.lat)+s.errors)
				if s.first != "" {
					say("    first error: %s", s.first)
				}
				if s.warnings > 0 {
					say("    %d warnings, the first: %s", s.warnings, s.warning)
					notes = append(notes, fmt.Sprintf("API server, %s %s round %d: %d calls answered with warnings, the first: `%s`", c, op, r+1, s.warnings, s.warning))
				}
			}
		}
	}

	for _, c := range configs {
		for _, op := range apiOps {
			row := apiRow{Config: c, Op: op}
			var p50, p99, a50, a99 []float64
			first := ""
			for r, s := range samples[c][op] {
				row.Calls += len(s.lat) + s.errors
				row.Errors += s.errors
				if first == "" {
					first = s.first
				}
				if len(s.lat) == 0 {
					continue
				}
				p50 = append(p50, float64(apiPct(s.lat, 0.50)))
				p99 = append(p99, float64(apiPct(s.lat, 0.99)))
				// The added latency is taken round by round against the
				// no-webhook run of the same round, then the median: the
				// machine's load drifts between rounds.
				if base := samples[apiCfgNone][op][r].lat; len(base) > 0 {
					a50 = append(a50, float64(apiPct(s.lat, 0.50)-apiPct(base, 0.50)))
					a99 = append(a99, float64(apiPct(s.lat, 0.99)-apiPct(base, 0.99)))
				}
			}
			row.P50, row.P99 = time.Duration(median(p50)), time.Duration(median(p99))
			row.Added50, row.Added99 = time.Duration(median(a50)), time.Duration(median(a99))
			rows = append(rows, row)
			if first != "" {
				notes = append(notes, fmt.Sprintf("API server, first error of %s %s (%d of %d calls failed): `%s`", c, op, row.Errors, row.Calls, first))
			}
		}
	}
	notes = append(notes, fmt.Sprintf("API server workload: a fresh namespace, %d warm-up cycles discarded after each registration change, then %d cycles of `Ingress create` (canary, weight 10..50), `Ingress update` (weight changed), `Service selector switch` (`serving.kserve.io/inferenceservice` between two verified InferenceServices), `Ingress delete`; one client (client-go, JSON, no client-side rate limit), calls in sequence.", apiWarmup, n))
	return rows, prof, notes, nil
}

// saveRegistrations keeps canarygate's webhook configurations (every one
// registered when the part starts) so they can be removed and restored.
func (b *apiBench) saveRegistrations(ctx context.Context) error {
	ar := b.cs.AdmissionregistrationV1()
	m, err := ar.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	v, err := ar.ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	b.mutating = m.Items
	for _, w := range v.Items {
		// Left over from an interrupted run: never restored as canarygate's.
		if w.Name != gkConfigName {
			b.validating = append(b.validating, w)
		}
	}
	if len(b.mutating)+len(b.validating) == 0 {
		return errors.New("no webhook configuration is registered: canarygate's are expected")
	}
	return nil
}

// freshMeta strips what the API server assigns, so a saved object can be
// created again.
func freshMeta(m *metav1.ObjectMeta) {
	*m = metav1.ObjectMeta{Name: m.Name, Labels: m.Labels, Annotations: m.Annotations}
}

// registerCanarygate creates canarygate's configurations that are missing.
func (b *apiBench) registerCanarygate(ctx context.Context) error {
	ar := b.cs.AdmissionregistrationV1()
	for _, w := range b.mutating {
		w := *w.DeepCopy()
		freshMeta(&w.ObjectMeta)
		if _, err := ar.MutatingWebhookConfigurations().Create(ctx, &w, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for _, w := range b.validating {
		w := *w.DeepCopy()
		freshMeta(&w.ObjectMeta)
		if _, err := ar.ValidatingWebhookConfigurations().Create(ctx, &w, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// unregisterCanarygate deletes canarygate's configurations.
func (b *apiBench) unregisterCanarygate(ctx context.Context) error {
	ar := b.cs.AdmissionregistrationV1()
	for _, w := range b.mutating {
		if err := ar.MutatingWebhookConfigurations().Delete(ctx, w.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for _, w := range b.validating {
		if err := ar.ValidatingWebhookConfigurations().Delete(ctx, w.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// restore leaves the cluster as the part found it: Gatekeeper's
// registration gone, canarygate's in place and in effect.
func (b *apiBench) restore(ctx context.Context) error {
	if b.gk != nil {
		if err := b.gk.unregister(ctx, b.cs); err != nil {
			return err
		}
	}
	if err := b.registerCanarygate(ctx); err != nil {
		return err
	}
	return b.await(ctx, apiCfgCanarygate)
}

// use switches the registrations to configuration c and waits until the
// API server applies them.
func (b *apiBench) use(ctx context.Context, c string) error {
	var err error
	switch c {
	case apiCfgNone:
		err = errors.Join(b.unregisterCanarygate(ctx), b.unregisterGatekeeper(ctx))
	case apiCfgCanarygate:
		err = errors.Join(b.unregisterGatekeeper(ctx), b.registerCanarygate(ctx))
	case apiCfgGatekeeper:
		err = b.unregisterCanarygate(ctx)
		if err == nil {
			err = b.gk.register(ctx, b.cs)
		}
	}
	if err != nil {
		return fmt.Errorf("registering %s: %w", c, err)
	}
	return b.await(ctx, c)
}

func (b *apiBench) unregisterGatekeeper(ctx context.Context) error {
	if b.gk == nil {
		return nil
	}
	return b.gk.unregister(ctx, b.cs)
}

// await polls until configuration c is what the API server applies: a
// dry-run canary Ingress with weight "abc" is denied by exactly the
// expected webhook (or allowed with none), and a valid one comes back
// carrying canarygate's stamps only when its mutating webhook is
// registered. Three probes in a row must agree: the API server's webhook
// informer lags the writes by a few milliseconds.
func (b *apiBench) await(ctx context.Context, c string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	agree, last := 0, ""
	for agree < 3 {
		got, err := b.probe(ctx)
		switch {
		case err != nil:
			last = err.Error()
			agree = 0
		case got == c:
			agree++
		default:
			last = "probes answer as " + got
			agree = 0
		}
		if agree < 3 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s to take effect: %s: %w", c, last, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// probe tells which configuration the API server applies now ("mixed" when
// the answers do not match one).
func (b *apiBench) probe(ctx context.Context) (string, error) {
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	_, err := b.cs.NetworkingV1().Ingresses(b.ns).Create(ctx, b.canary("bench-probe", "p", "abc"), dry)
	var denied string
	switch {
	case err == nil:
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		denied = err.Error()
	default:
		return "", err
	}
	good, err := b.cs.NetworkingV1().Ingresses(b.ns).Create(ctx, b.canary("bench-probe", "p", "10"), dry)
	if err != nil {
		return "", err
	}
	mutated := false
	for k := range good.Annotations {
		mutated = mutated || strings.HasPrefix(k, "canarygate.io/")
	}
	byCG := strings.Contains(denied, "[CG")
	byGK := strings.Contains(denied, gkWebhookName)
	switch {
	case denied == "" && !mutated:
		return apiCfgNone, nil
	case byCG && !byGK && mutated:
		return apiCfgCanarygate, nil
	case byGK && !byCG && !mutated:
		return apiCfgGatekeeper, nil
	}
	return fmt.Sprintf("mixed (mutated %v, denied %q)", mutated, denied), nil
}

// The workload's objects: route A (host a.NS.example.com) has a main
// Ingress to bench-stable (selecting bench-v1), and the canary Ingress the
// stream creates, updates and deletes routes to bench-canary (selecting
// bench-v2); route B's main Ingress routes to bench-switch, whose selector
// alternates between bench-v1 and bench-v2. Route P, built like A with
// Services of its own, only receives the dry-run probes, so a canary left on
// A (an interrupted cycle) cannot change their answers: canarygate denies a
// second canary on a route, and warns (CG207) when routes share a Service. Both InferenceServices are
// Ready and verified, so canarygate allows every write without warnings; weights stay at or
// under 50, so Gatekeeper's constraint allows them too.
const (
	apiISVCLabel  = "serving.kserve.io/inferenceservice"
	apiCanaryName = "bench-canary"
)

func (b *apiBench) host(route string) string { return route + "." + b.ns + ".example.com" }

func apiIngress(name, host, svc string, ann map[string]string) *networkingv1.Ingress {
	class := "nginx"
	pt := networkingv1.PathTypeImplementationSpecific
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}}}},
		},
	}
}

// canary is a canary Ingress of a route with a hand-written weight.
func (b *apiBench) canary(name, route, weight string) *networkingv1.Ingress {
	svc := "bench-canary"
	if route == "p" {
		svc = "bench-probe-canary"
	}
	return apiIngress(name, b.host(route), svc, map[string]string{
		"nginx.ingress.kubernetes.io/canary":        "true",
		"nginx.ingress.kubernetes.io/canary-weight": weight,
	})
}

func apiService(name, isvc string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{apiISVCLabel: isvc},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// seed creates the namespace and the workload's standing objects, with
// canarygate registered (as the part finds it).
func (b *apiBench) seed(ctx context.Context) error {
	if _, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for i, name := range []string{"bench-v1", "bench-v2"} {
		isvc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
			"metadata": map[string]any{"name": name, "annotations": map[string]any{"serving.kserve.io/deploymentMode": "RawDeployment"}},
			"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{
				"modelFormat": map[string]any{"name": "sklearn"},
				"storageUri":  fmt.Sprintf("gs://kfserving-examples/models/sklearn/1.0/model-%d", i+1),
			}}},
		}}
		res := b.dyn.Resource(apiISVCGVR).Namespace(b.ns)
		got, err := res.Create(ctx, isvc, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		// Ready as KServe reports it, then verified at that generation,
		// as test/e2e does.
		status := fmt.Sprintf(`{"status":{"observedGeneration":%d,"conditions":[{"type":"PredictorReady","status":"True"},{"type":"IngressReady","status":"True"},{"type":"Ready","status":"True"}]}}`, got.GetGeneration())
		if _, err := res.Patch(ctx, name, types.MergePatchType, []byte(status), metav1.PatchOptions{}, "status"); err != nil {
			return err
		}
		if _, err := res.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"canarygate.io/verified":"true"}}}`), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	for _, s := range []*corev1.Service{
		apiService("bench-stable", "bench-v1"), apiService("bench-canary", "bench-v2"), apiService("bench-switch", "bench-v1"),
		apiService("bench-probe-stable", "bench-v1"), apiService("bench-probe-canary", "bench-v2"),
	} {
		got, err := b.cs.CoreV1().Services(b.ns).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if s.Name == "bench-switch" {
			b.svc = got
		}
	}
	for _, ing := range []*networkingv1.Ingress{
		apiIngress("bench-main-a", b.host("a"), "bench-stable", nil),
		apiIngress("bench-main-b", b.host("b"), "bench-switch", nil),
		apiIngress("bench-main-p", b.host("p"), "bench-probe-stable", nil),
	} {
		if _, err := b.cs.NetworkingV1().Ingresses(b.ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// apiSamples are one class's latencies of successful calls and its errors.
type apiSamples struct {
	lat      []time.Duration
	errors   int
	first    string
	warnings int
	warning  string
}

// cycles runs n cycles of the workload (create, update, switch, delete) and
// returns each class's samples. A failed call is counted, not timed; the
// cycle then repairs its state outside the clock so the next one starts
// from the same objects. Only a cancelled context ends it early.
func (b *apiBench) cycles(ctx context.Context, n, round int) (map[string]*apiSamples, error) {
	out := map[string]*apiSamples{}
	for _, op := range apiOps {
		out[op] = &apiSamples{}
	}
	ings := b.cs.NetworkingV1().Ingresses(b.ns)
	svcs := b.cs.CoreV1().Services(b.ns)
	timed := func(op string, call func() error) bool {
		seen := b.warnings.n
		start := time.Now()
		err := call()
		d := time.Since(start)
		s := out[op]
		if b.warnings.n > seen {
			s.warnings += b.warnings.n - seen
			if s.warning == "" {
				s.warning = b.warnings.last
			}
		}
		if err != nil {
			s.errors++
			if s.first == "" {
				s.first = err.Error()
			}
			return false
		}
		s.lat = append(s.lat, d)
		return true
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Weights 10..50 in steps of 10, the update moving to the next one.
		w := 10 * (1 + (i+round)%5)
		var ing *networkingv1.Ingress
		created := timed(apiOpCreate, func() (err error) {
			ing, err = ings.Create(ctx, b.canary(apiCanaryName, "a", strconv.Itoa(w)), metav1.CreateOptions{})
			return err
		})
		if !created {
			// Left over from a failed delete: remove it and try again next cycle.
			_ = ings.Delete(ctx, apiCanaryName, metav1.DeleteOptions{})
			continue
		}
		upd := ing.DeepCopy()
		upd.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = strconv.Itoa(10 * (1 + (i+round+1)%5))
		timed(apiOpUpdate, func() error {
			_, err := ings.Update(ctx, upd, metav1.UpdateOptions{})
			return err
		})

		sw := b.svc.DeepCopy()
		next := "bench-v2"
		if sw.Spec.Selector[apiISVCLabel] == "bench-v2" {
			next = "bench-v1"
		}
		sw.Spec.Selector = map[string]string{apiISVCLabel: next}
		if !timed(apiOpSwitch, func() error {
			got, err := svcs.Update(ctx, sw, metav1.UpdateOptions{})
			if err == nil {
				b.svc = got
			}
			return err
		}) {
			if got, err := svcs.Get(ctx, "bench-switch", metav1.GetOptions{}); err == nil {
				b.svc = got
			}
		}

		if !timed(apiOpDelete, func() error { return ings.Delete(ctx, apiCanaryName, metav1.DeleteOptions{}) }) {
			_ = ings.Delete(ctx, apiCanaryName, metav1.DeleteOptions{})
		}
	}
	return out, nil
}

// apiPct is the q-quantile of d (nearest rank); 0 when d is empty.
func apiPct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// writeAPIServer renders the section ("## 4. Through the API server") with
// the p function used by report.go: p(format, args...).
func writeAPIServer(p func(string, ...any), rows []apiRow, o options) {
	if len(rows) == 0 {
		return
	}
	p("## 4. Through the API server\n\n")
	p("What admission webhooks add to API-server writes, measured at the client: the harness's kube-apiserver (envtest), one client-go client calling in sequence, in three configurations alternating within the run (%d rounds, the order reversed every other round): ", apiRounds(o))
	p("**%s** registered; **%s** (its three webhooks as config/webhook ships them, `canarygate serve` from test/harness); ", apiCfgNone, apiCfgCanarygate)
	p("**%s** (the release hack/gatekeeper pins, see the notes; its validating webhook alone — chart defaults: `failurePolicy: Ignore`, `timeoutSeconds: 3`, CREATE and UPDATE of Ingresses and Services — with one ConstraintTemplate checking, on Ingresses annotated `nginx.ingress.kubernetes.io/canary: \"true\"`: %s)", apiCfgGatekeeper, strings.Join(gkRules, "; "))
	if !slices.ContainsFunc(rows, func(r apiRow) bool { return r.Config == apiCfgGatekeeper }) {
		p(" — **not measured in this run**: it could not be built or started (the notes say why)")
	}
	p(". ")
	p("In each round and configuration, after %d warm-up cycles, %d cycles of: create a canary Ingress (weight 10..50), update its weight, switch a Service's `serving.kserve.io/inferenceservice` selector between two verified InferenceServices, delete the Ingress; every call is meant to be allowed in every configuration (a failed call is counted as an error, not timed). ", apiWarmup, apiCycles(o))
	p("p50 and p99 are of the successful calls of one round, then the median over rounds; *added* is the difference to the no-webhook run of the same round, median over rounds. Gatekeeper is not registered for DELETE (its default), so its delete row measures nothing of it. All processes share the same cores.\n\n")
	p("Budget (issue 6): canarygate adds ≤ 1 ms at p50 and ≤ 3 ms at p99, about half of what Gatekeeper adds.\n\n")
	p("| configuration | operation | calls | errors | p50 | p99 | added p50 | added p99 |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		added := func(d time.Duration) string {
			if r.Config == apiCfgNone {
				return "–"
			}
			return signedMS(d)
		}
		p("| %s | %s | %d | %d | %s | %s | %s | %s |\n", r.Config, r.Op, r.Calls, r.Errors, ms(r.P50), ms(r.P99), added(r.Added50), added(r.Added99))
	}
	find := func(c, op string) (apiRow, bool) {
		for _, r := range rows {
			if r.Config == c && r.Op == op {
				return r, true
			}
		}
		return apiRow{}, false
	}
	p("\nAgainst the budget (added latency):\n\n| operation | canarygate p50 ≤ 1 ms | canarygate p99 ≤ 3 ms | canarygate / Gatekeeper p50 | p99 |\n| --- | --- | --- | --- | --- |\n")
	for _, op := range apiOps {
		cg, ok := find(apiCfgCanarygate, op)
		if !ok {
			continue
		}
		check := func(d, bound time.Duration) string {
			if d <= bound {
				return signedMS(d) + " ✓"
			}
			return signedMS(d) + " ✗"
		}
		line := fmt.Sprintf("| %s | %s | %s |", op, check(cg.Added50, time.Millisecond), check(cg.Added99, 3*time.Millisecond))
		if gk, ok := find(apiCfgGatekeeper, op); ok && op != apiOpDelete {
			line += fmt.Sprintf(" %s | %s |", addedRatio(cg.Added50, gk.Added50), addedRatio(cg.Added99, gk.Added99))
		} else {
			line += " – | – |"
		}
		p("%s\n", line)
	}
	p("\n")
}

// signedMS prints an added latency, which noise can make negative.
func signedMS(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}

// addedRatio is canarygate's added latency over Gatekeeper's; meaningless
// (a dash) when Gatekeeper's is not positive.
func addedRatio(cg, gk time.Duration) string {
	if gk <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(cg)/float64(gk))
}
