// Package chart_test keeps the Helm chart (charts/canarygate) and the
// kustomize manifests (config/webhook) from drifting: both are rendered with
// the real tools (bin/helm, bin/controlplane/kubectl; `make helm
// controlplane` builds them) and compared object by object. It also lints the
// chart strictly with every ci/ value file and checks what those non-default
// values render.
package chart_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/diff"
)

// helmLabels are the labels Helm charts add by convention; the comparison
// ignores them wherever labels appear (metadata, pod templates and the
// selectors, where the chart also selects on app.kubernetes.io/instance so
// two releases never select each other's pods).
var helmLabels = []string{
	"helm.sh/chart",
	"app.kubernetes.io/managed-by",
	"app.kubernetes.io/instance",
	"app.kubernetes.io/version",
}

// onlyInKustomize are objects the chart does not render with default
// values, each with the reason.
var onlyInKustomize = map[string]string{
	"Namespace//" + namespace: "Helm creates the release namespace (helm install --create-namespace); rendering it too would make that install fail. namespace.create=true renders it (TestChartRendersTheNamespaceOnRequest)",
}

// difference is one intentional difference at a field of an object that
// both renderings hold: the exact value each side must have there.
type difference struct {
	object    string
	path      []any
	kustomize any
	helm      any
	reason    string
}

// intentionalDifferences lists every field where the default chart
// rendering may differ from kustomize's. Keep it minimal: a difference that
// no longer exists fails the test, so remove its entry then.
func intentionalDifferences(appVersion string) []difference {
	deployment := "Deployment/" + namespace + "/canarygate"
	container := []any{"spec", "template", "spec", "containers", 0}
	return []difference{
		{
			object:    deployment,
			path:      append(slices.Clone(container), "image"),
			kustomize: "ghcr.io/canarygate/canarygate:latest",
			helm:      "ghcr.io/canarygate/canarygate:" + appVersion,
			reason:    "the chart pins its appVersion (image.tag); kustomize tracks latest and is pinned in an overlay (docs/install.md)",
		},
		{
			object: deployment,
			path:   append(slices.Clone(container), "args"),
			kustomize: []any{"serve", "--cert-dir=/tmp/k8s-webhook-server/serving-certs", "--leader-elect",
				"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--port=9443"},
			helm: []any{"serve", "--cert-dir=/tmp/k8s-webhook-server/serving-certs", "--leader-elect",
				"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--port=9443",
				"--ingress-class=nginx"},
			reason: "the chart always passes its ingressClasses value (default [nginx], the server's own default) so the rendered flags show what is governed",
		},
	}
}

// dropHelmLabels removes helmLabels from every label map and selector of
// an object: maps under "labels" or "matchLabels", and a Service's
// spec.selector.
func dropHelmLabels(u *unstructured.Unstructured) {
	var walk func(v any, parent string)
	walk = func(v any, parent string) {
		switch x := v.(type) {
		case map[string]any:
			if parent == "labels" || parent == "matchLabels" {
				for _, l := range helmLabels {
					delete(x, l)
				}
			}
			for k, child := range x {
				walk(child, k)
			}
		case []any:
			for _, child := range x {
				walk(child, parent)
			}
		}
	}
	walk(u.Object, "")
	if u.GetKind() == "Service" {
		if sel, ok := field(u.Object, "spec", "selector"); ok {
			if m, ok := sel.(map[string]any); ok {
				for _, l := range helmLabels {
					delete(m, l)
				}
			}
		}
	}
}

// TestChartMatchesKustomize renders config/webhook and the chart with
// default values and compares them object by object: the same objects, the
// same content, except Helm's labels and the intentional differences above.
func TestChartMatchesKustomize(t *testing.T) {
	kubectl := tool(t, kubectlBin)
	tool(t, helmBin)

	out, err := run(t, kubectl, "kustomize", kustomizeDir)
	if err != nil {
		t.Fatal(err)
	}
	kust := mustParse(t, "kubectl kustomize "+kustomizeDir, out)
	chart := mustHelmTemplate(t)

	for _, r := range []rendering{kust, chart} {
		for _, u := range r {
			dropHelmLabels(u)
		}
	}

	for _, d := range intentionalDifferences(chartAppVersion(t)) {
		k, h := kust[d.object], chart[d.object]
		if k == nil || h == nil {
			t.Errorf("intentional difference at %s %v: the object is not rendered by both (kustomize: %t, chart: %t)", d.object, d.path, k != nil, h != nil)
			continue
		}
		kv, _ := field(k.Object, d.path...)
		hv, _ := field(h.Object, d.path...)
		want := []struct {
			side      string
			got, want any
		}{{"kustomize", kv, jsonValue(t, d.kustomize)}, {"chart", hv, jsonValue(t, d.helm)}}
		ok := true
		for _, w := range want {
			if !reflect.DeepEqual(w.got, w.want) {
				t.Errorf("intentional difference at %s %v (%s): %s renders %#v, the entry expects %#v; if the difference is gone, remove the entry from intentionalDifferences, else update it", d.object, d.path, d.reason, w.side, w.got, w.want)
				ok = false
			}
		}
		if ok && !setField(h.Object, kv, d.path...) {
			t.Errorf("cannot apply the intentional difference at %s %v", d.object, d.path)
		}
	}

	for _, key := range kust.keys() {
		if reason, ok := onlyInKustomize[key]; ok {
			if _, rendered := chart[key]; rendered {
				t.Errorf("%s is listed as kustomize-only (%s) but the chart renders it with default values: remove it from onlyInKustomize", key, reason)
			}
			continue
		}
		h, ok := chart[key]
		if !ok {
			t.Errorf("%s is in config/webhook but the chart does not render it with default values", key)
			continue
		}
		if !reflect.DeepEqual(kust[key].Object, h.Object) {
			t.Errorf("%s differs between config/webhook and the chart (- kustomize, + chart):\n%s", key, diff.Diff(kust[key].Object, h.Object))
		}
	}
	for _, key := range chart.keys() {
		if _, ok := kust[key]; !ok {
			t.Errorf("%s is rendered by the chart with default values but is not in config/webhook", key)
		}
	}
	for key := range onlyInKustomize {
		if _, ok := kust[key]; !ok {
			t.Errorf("%s is listed in onlyInKustomize but config/webhook does not render it: remove the entry", key)
		}
	}
}

// TestChartRendersTheNamespaceOnRequest checks that namespace.create=true
// renders the same Namespace as config/webhook (Pod Security restricted).
func TestChartRendersTheNamespaceOnRequest(t *testing.T) {
	kubectl := tool(t, kubectlBin)
	out, err := run(t, kubectl, "kustomize", kustomizeDir)
	if err != nil {
		t.Fatal(err)
	}
	kust := mustParse(t, "kubectl kustomize "+kustomizeDir, out)
	chart := mustHelmTemplate(t, "--set", "namespace.create=true")
	key := "Namespace//" + namespace
	k, h := kust.get(t, key), chart.get(t, key)
	dropHelmLabels(k)
	dropHelmLabels(h)
	if !reflect.DeepEqual(k.Object, h.Object) {
		t.Errorf("%s differs (- kustomize, + chart):\n%s", key, diff.Diff(k.Object, h.Object))
	}
}

// TestChartLintsStrictly runs `helm lint --strict` with the default values
// and with every ci/ value file.
func TestChartLintsStrictly(t *testing.T) {
	helm := tool(t, helmBin)
	cases := map[string][]string{"default values": nil}
	for _, f := range ciValueFiles(t) {
		cases[f] = []string{"--values", f}
	}
	for name, flags := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir, "-n", namespace}, flags...)
			out, err := run(t, helm, args...)
			if err != nil {
				t.Fatal(err)
			}
			// --strict fails on warnings; errors and warnings are printed
			// as [ERROR] and [WARNING] lines.
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "[ERROR]") || strings.Contains(line, "[WARNING]") {
					t.Errorf("helm lint: %s", line)
				}
			}
		})
	}
}
