package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canarygate/canarygate/test/harness"
)

// Gatekeeper's side of part 4: the binary built by hack/gatekeeper, its
// CRDs read from the same module in the module cache, one ConstraintTemplate
// and one Constraint, and a ValidatingWebhookConfiguration registered only
// while the Gatekeeper configuration is measured.
const (
	gkNamespace   = "gatekeeper-system"
	gkPod         = "gatekeeper-bench"
	gkWebhookName = "validation.gatekeeper.sh"
	gkConfigName  = "gatekeeper-validating-webhook-configuration"
	gkTemplate    = "k8scanaryweight"
	gkKind        = "K8sCanaryWeight"
	gkConstraint  = "canary-weight"
	gkMaxWeight   = 50
)

// gkRules are the template's three rules, as the report states them.
var gkRules = []string{
	"`canary-weight`, when set, is an integer string 0..100 (ingress-nginx reads anything else as 0)",
	fmt.Sprintf("`canary-weight` above %d is denied", gkMaxWeight),
	"a canary sets `canary-weight`, `canary-by-header` or `canary-by-cookie` (otherwise it routes nothing)",
}

// gkRego is the template's policy (Rego v0, the syntax of the template's
// `rego` field). The rules are the same canary weight checks canarygate's
// built-in policies make, so both webhooks decide the same question.
const gkRego = `package k8scanaryweight

annotations := object.get(input.review.object.metadata, "annotations", {})

is_canary {
	annotations["nginx.ingress.kubernetes.io/canary"] == "true"
}

# Rule 1: the weight, when set, is an integer 0..100.
violation[{"msg": msg}] {
	is_canary
	w := annotations["nginx.ingress.kubernetes.io/canary-weight"]
	not regex.match("^(100|[1-9]?[0-9])$", w)
	msg := sprintf("canary-weight %q is not an integer 0..100", [w])
}

# Rule 2: at most maxWeight of the traffic goes to the canary.
violation[{"msg": msg}] {
	is_canary
	w := annotations["nginx.ingress.kubernetes.io/canary-weight"]
	regex.match("^(100|[1-9]?[0-9])$", w)
	to_number(w) > input.parameters.maxWeight
	msg := sprintf("canary-weight %v is above %v", [w, input.parameters.maxWeight])
}

# Rule 3: a canary routes something.
violation[{"msg": msg}] {
	is_canary
	not annotations["nginx.ingress.kubernetes.io/canary-weight"]
	not annotations["nginx.ingress.kubernetes.io/canary-by-header"]
	not annotations["nginx.ingress.kubernetes.io/canary-by-cookie"]
	msg := "canary Ingress sets none of canary-weight, canary-by-header, canary-by-cookie"
}
`

var (
	gkTemplateGVR   = schema.GroupVersionResource{Group: "templates.gatekeeper.sh", Version: "v1", Resource: "constrainttemplates"}
	gkConstraintGVR = schema.GroupVersionResource{Group: "constraints.gatekeeper.sh", Version: "v1beta1", Resource: strings.ToLower(gkKind)}
)

// gatekeeper is a running Gatekeeper webhook.
type gatekeeper struct {
	cmd  *exec.Cmd
	port int
	ca   []byte
}

// startGatekeeper builds bin/gatekeeper (hack/gatekeeper/build.sh, cached),
// installs Gatekeeper's CRDs from the module cache, starts it outside a
// cluster (a Pod object stands for its own pod; no kubelet runs it) with
// the harness's serving certificate, and creates the template and the
// constraint. The webhook is not registered yet. On error it stops what it
// started; the notes say what ran either way.
func startGatekeeper(ctx context.Context, root string, env *harness.Env, tmp string, logf io.Writer) (gk *gatekeeper, notes []string, err error) {
	bin := filepath.Join(root, "bin", "gatekeeper")
	build := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "gatekeeper", "build.sh"), bin)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, nil, fmt.Errorf("building gatekeeper (hack/gatekeeper/build.sh): %w", err)
	}
	list := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/open-policy-agent/gatekeeper/v3")
	list.Dir = filepath.Join(root, "hack", "gatekeeper")
	list.Env = append(os.Environ(), "GOWORK=off")
	out, err := list.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("locating gatekeeper's module: %w", err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		return nil, nil, errors.New("gatekeeper's module source is not in the module cache: run hack/gatekeeper/build.sh")
	}
	// The released chart's CRDs, the ones a Helm install applies.
	crds := filepath.Join(dir, "charts", "gatekeeper", "crds")
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true, MaxTime: time.Minute}); err != nil {
		return nil, nil, fmt.Errorf("installing gatekeeper's CRDs from %s: %w", crds, err)
	}

	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		return nil, nil, err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gkNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, nil, err
	}
	// Gatekeeper reads its own Pod (POD_NAME) to own the status objects it
	// writes; the object is enough.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: gkPod, Namespace: gkNamespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "openpolicyagent/gatekeeper:" + version}}},
	}
	if _, err := cs.CoreV1().Pods(gkNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, nil, err
	}
	user, err := env.Env.AddUser(envtest.User{Name: "gatekeeper", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, nil, err
	}
	kubeconfig := filepath.Join(tmp, "gatekeeper.kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, nil, err
	}

	wh := env.Env.WebhookInstallOptions
	gk = &gatekeeper{port: freePort(), ca: wh.LocalServingCAData}
	health := freePort()
	args := gatekeeperArgs(strconv.Itoa(gk.port), strconv.Itoa(health), strconv.Itoa(freePort()), wh.LocalServingCertDir)
	gk.cmd = exec.Command(bin, args...)
	gk.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAME="+gkPod, "POD_NAMESPACE="+gkNamespace)
	gk.cmd.Stdout, gk.cmd.Stderr = logf, logf
	gk.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := gk.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting gatekeeper: %w", err)
	}
	// The returns below set gk to nil on error, so the process is held apart.
	started := gk
	defer func() {
		if err != nil {
			started.stop()
		}
	}()
	notes = append(notes, fmt.Sprintf("Gatekeeper %s (hack/gatekeeper/build.sh), run outside a cluster as `POD_NAME=%s POD_NAMESPACE=%s KUBECONFIG=ADMIN gatekeeper %s` (CERTS: the harness's serving certificate for 127.0.0.1; a Pod object %s/%s stands for its pod; its CRDs from the module's charts/gatekeeper/crds)",
		version, gkPod, gkNamespace, strings.Join(gatekeeperArgs("PORT", "PORT", "PORT", "CERTS"), " "), gkNamespace, gkPod))
	if err := gk.awaitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", health)); err != nil {
		return nil, notes, err
	}

	tmpl := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
		"metadata": map[string]any{"name": gkTemplate},
		"spec": map[string]any{
			"crd": map[string]any{"spec": map[string]any{
				"names":      map[string]any{"kind": gkKind},
				"validation": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "properties": map[string]any{"maxWeight": map[string]any{"type": "integer"}}}},
			}},
			"targets": []any{map[string]any{"target": "admission.k8s.gatekeeper.sh", "rego": gkRego}},
		},
	}}
	if _, err := dyn.Resource(gkTemplateGVR).Create(ctx, tmpl, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, notes, fmt.Errorf("creating the ConstraintTemplate: %w", err)
	}
	constraint := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": gkKind,
		"metadata": map[string]any{"name": gkConstraint},
		"spec": map[string]any{
			"enforcementAction": "deny",
			"match":             map[string]any{"kinds": []any{map[string]any{"apiGroups": []any{"networking.k8s.io"}, "kinds": []any{"Ingress"}}}},
			"parameters":        map[string]any{"maxWeight": int64(gkMaxWeight)},
		},
	}}
	// The constraint's CRD exists once Gatekeeper has ingested the
	// template; until then its resource is not found.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := dyn.Resource(gkConstraintGVR).Create(ctx, constraint, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			break
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			return nil, notes, fmt.Errorf("creating the %s constraint (is the template ingested?): %w", gkKind, err)
		}
		if err := gk.sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, notes, err
		}
	}
	notes = append(notes, fmt.Sprintf("Gatekeeper ConstraintTemplate `%s` (constraint `%s`, enforcementAction deny, Ingresses, maxWeight %d):\n\n  ```rego\n  %s\n  ```",
		gkTemplate, gkConstraint, gkMaxWeight, strings.ReplaceAll(strings.TrimSpace(gkRego), "\n", "\n  ")))
	return gk, notes, nil
}

// gatekeeperArgs are Gatekeeper's flags: the validating webhook and the
// constraint CRDs generated from templates, no audit, status or mutation;
// the given certificate read as is, never rotated.
func gatekeeperArgs(port, health, metrics, certDir string) []string {
	return []string{
		"--operation=webhook", "--operation=generate",
		"--host=127.0.0.1", "--port=" + port,
		"--cert-dir=" + certDir, "--disable-cert-rotation",
		"--health-addr=127.0.0.1:" + health, "--metrics-addr=127.0.0.1:" + metrics,
		"--log-level=ERROR", "--shutdown-delay=0",
	}
}

// awaitHealthy waits until Gatekeeper answers its health probe, or exits.
func (g *gatekeeper) awaitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := g.sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.New("gatekeeper did not answer " + url + " within a minute (its output is in the process log)")
}

// sleep waits d, failing early when the context ends or Gatekeeper exited.
func (g *gatekeeper) sleep(ctx context.Context, d time.Duration) error {
	// The process is reaped only by stop (stopGroup waits for it), so an
	// exit shows as a zombie in /proc until then.
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("gatekeeper exited (its output is in the process log): %w", err)
	}
	if _, rest, ok := strings.Cut(string(raw), ") "); ok && strings.HasPrefix(rest, "Z") {
		return errors.New("gatekeeper exited (its output is in the process log)")
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// register creates Gatekeeper's ValidatingWebhookConfiguration, as the
// chart renders it by default (failurePolicy Ignore, timeoutSeconds 3,
// CREATE and UPDATE, matchPolicy Exact, its own namespace exempt), narrowed
// to the two resources the workload writes and pointed at the local port.
func (g *gatekeeper) register(ctx context.Context, cs kubernetes.Interface) error {
	url := fmt.Sprintf("https://127.0.0.1:%d/v1/admit", g.port)
	ignore := admissionregistrationv1.Ignore
	exact := admissionregistrationv1.Exact
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(3)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: gkConfigName, Labels: map[string]string{"gatekeeper.sh/system": "yes"}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    gkWebhookName,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: g.ca},
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			FailurePolicy:           &ignore,
			MatchPolicy:             &exact,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "admission.gatekeeper.sh/ignore", Operator: metav1.LabelSelectorOpDoesNotExist},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{gkNamespace}},
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{
				{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"ingresses"}},
				},
				{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}},
				},
			},
		}},
	}
	_, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// unregister deletes Gatekeeper's ValidatingWebhookConfiguration.
func (g *gatekeeper) unregister(ctx context.Context, cs kubernetes.Interface) error {
	err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, gkConfigName, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// stop ends the Gatekeeper process (its own process group).
func (g *gatekeeper) stop() {
	if g == nil || g.cmd == nil || g.cmd.Process == nil {
		return
	}
	stopGroup(g.cmd)
}
