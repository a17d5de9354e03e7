package chart_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/pkg/policy"
)

// webhookConfigurations returns both webhook configurations of a rendering.
func webhookConfigurations(t *testing.T, r rendering) []*unstructured.Unstructured {
	t.Helper()
	return []*unstructured.Unstructured{
		r.get(t, "ValidatingWebhookConfiguration//canarygate-validating"),
		r.get(t, "MutatingWebhookConfiguration//canarygate-mutating"),
	}
}

// webhooks returns every webhook entry of both configurations.
func webhooks(t *testing.T, r rendering) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range webhookConfigurations(t, r) {
		list, _ := field(c.Object, "webhooks")
		for _, w := range list.([]any) {
			out = append(out, w.(map[string]any))
		}
	}
	if len(out) != 9 {
		t.Fatalf("want 9 webhooks (gate, lint and mutate for Ingresses, Services, InferenceServices), got %d", len(out))
	}
	return out
}

// container returns the server container of the Deployment.
func container(t *testing.T, r rendering) map[string]any {
	t.Helper()
	c, ok := field(r.get(t, "Deployment/"+namespace+"/canarygate").Object, "spec", "template", "spec", "containers", 0)
	if !ok {
		t.Fatal("the Deployment has no container")
	}
	return c.(map[string]any)
}

// args returns the server container's arguments.
func args(t *testing.T, r rendering) []string {
	t.Helper()
	var out []string
	list, _ := field(container(t, r), "args")
	for _, a := range list.([]any) {
		out = append(out, a.(string))
	}
	return out
}

// equal fails the test unless got equals want, both compared as JSON
// values (so []string and a parsed []any, or 1 and 1.0, are equal).
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := jsonValue(t, got), jsonValue(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s: got %#v, want %#v", what, g, w)
	}
}

// valuesOf reads a ci value file.
func valuesOf(t *testing.T, file string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), file))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// ciChecks are what each ci/ value file must render, beyond rendering at
// all. A ci file without an entry is only rendered and linted.
var ciChecks = map[string]func(t *testing.T, file string, r rendering){
	"tls-secret-values.yaml": func(t *testing.T, file string, r rendering) {
		caBundle, _ := field(valuesOf(t, file), "tls", "caBundle")
		secret, _ := field(valuesOf(t, file), "tls", "secretName")
		for _, kind := range []string{"Certificate", "Issuer"} {
			if objs := r.ofKind(kind); len(objs) > 0 {
				t.Errorf("cert-manager is off, yet %d %s objects are rendered", len(objs), kind)
			}
		}
		for _, c := range webhookConfigurations(t, r) {
			if a, ok := c.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok {
				t.Errorf("%s: cert-manager is off, yet it carries inject-ca-from %q", c.GetName(), a)
			}
		}
		for _, w := range webhooks(t, r) {
			got, _ := field(w, "clientConfig", "caBundle")
			equal(t, w["name"].(string)+" caBundle", got, caBundle)
		}
		got, _ := field(r.get(t, "Deployment/"+namespace+"/canarygate").Object, "spec", "template", "spec", "volumes", 0, "secret", "secretName")
		equal(t, "serving-cert volume", got, secret)
	},
	"existing-issuer-values.yaml": func(t *testing.T, _ string, r rendering) {
		if issuers := r.ofKind("Issuer"); len(issuers) > 0 {
			t.Errorf("an existing issuer is used, yet the chart renders %d Issuers", len(issuers))
		}
		certs := r.ofKind("Certificate")
		if len(certs) != 1 || certs[0].GetName() != "canarygate-serving" {
			t.Fatalf("want only the serving Certificate, got %d Certificates", len(certs))
		}
		ref, _ := field(certs[0].Object, "spec", "issuerRef")
		equal(t, "serving Certificate issuerRef", ref, map[string]string{"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "internal-ca"})
		for _, c := range webhookConfigurations(t, r) {
			equal(t, c.GetName()+" inject-ca-from", c.GetAnnotations()["cert-manager.io/inject-ca-from"], namespace+"/canarygate-serving")
		}
		for _, w := range webhooks(t, r) {
			if _, ok := field(w, "clientConfig", "caBundle"); ok {
				t.Errorf("%s: a caBundle is rendered although cert-manager injects it", w["name"])
			}
		}
	},
	"ha-values.yaml": func(t *testing.T, file string, r rendering) {
		replicas, _ := field(r.get(t, "Deployment/"+namespace+"/canarygate").Object, "spec", "replicas")
		equal(t, "replicas", replicas, 3)
		r.get(t, "PodDisruptionBudget/"+namespace+"/canarygate")
		ns := r.get(t, "Namespace//"+namespace)
		equal(t, "namespace Pod Security", ns.GetLabels()["pod-security.kubernetes.io/enforce"], "restricted")

		for _, w := range webhooks(t, r) {
			name := w["name"].(string)
			values, _ := field(w, "namespaceSelector", "matchExpressions", 0, "values")
			equal(t, name+" excluded namespaces", values, []string{"kube-system", namespace, "monitoring", "argocd"})
			want := map[string]string{"gate": "Ignore", "lint": "Ignore", "mutate": "Fail"}[strings.SplitN(name, "-", 2)[0]]
			equal(t, name+" failurePolicy", w["failurePolicy"], want)
		}

		a := args(t, r)
		for _, want := range []string{
			"--metrics-bind-address=0", "--dev-log", "--decision-timeout=3s",
			"--policy=/etc/canarygate/policies/platform-rules",
			"--policy=/etc/canarygate/policies/platform-bundle/bundle.tar.gz",
			"--policy=/etc/canarygate/policies/platform-tree",
			"--policy=/etc/canarygate/policy-data",
		} {
			if !slices.Contains(a, want) {
				t.Errorf("args %q lack %s", a, want)
			}
		}
		var classes []string
		for _, arg := range a {
			if c, ok := strings.CutPrefix(arg, "--ingress-class="); ok {
				classes = append(classes, c)
			}
		}
		equal(t, "ingress classes, in order", classes, []string{"nginx-internal", "nginx"})

		ports, _ := field(r.get(t, "Service/"+namespace+"/canarygate").Object, "spec", "ports")
		equal(t, "Service ports with metrics off", len(ports.([]any)), 1)
		ports, _ = field(r.get(t, "NetworkPolicy/"+namespace+"/canarygate").Object, "spec", "ingress", 0, "ports")
		equal(t, "NetworkPolicy ports with metrics off", ports, []map[string]any{{"port": 9443, "protocol": "TCP"}})
		ports, _ = field(container(t, r), "ports")
		for _, p := range ports.([]any) {
			if p.(map[string]any)["name"] == "metrics" {
				t.Error("the container exposes the metrics port with metrics off")
			}
		}

		// The policy data ConfigMap, laid out as its mount, loads in the
		// engine the server runs, with the built-ins.
		cm := r.get(t, "ConfigMap/"+namespace+"/canarygate-policy-data")
		data, _ := field(cm.Object, "data", "data.json")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(data.(string)), 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := policy.Open(t.Context(), dir, policy.SourceOptions{})
		if err != nil {
			t.Fatalf("policy data as rendered: %v", err)
		}
		if _, err := policy.Load(t.Context(), policy.Options{Builtin: true, Sources: []policy.Source{src}}); err != nil {
			t.Fatalf("policy data as rendered: %v", err)
		}
		want, _ := field(valuesOf(t, file), "policyData")
		var got map[string]any
		if err := yaml.Unmarshal([]byte(data.(string)), &got); err != nil {
			t.Fatal(err)
		}
		equal(t, "policy data under canarygate.config", got, map[string]any{"canarygate": map[string]any{"config": want}})
	},
}

// TestChartRendersCIValues renders the chart with every ci/ value file and
// checks what each must render.
func TestChartRendersCIValues(t *testing.T) {
	tool(t, helmBin)
	for _, f := range ciValueFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := mustHelmTemplate(t, "--values", f)
			if check, ok := ciChecks[filepath.Base(f)]; ok {
				check(t, f, r)
			}
		})
	}
	for name := range ciChecks {
		if _, err := os.Stat(filepath.Join(repoRoot(t), chartDir, "ci", name)); err != nil {
			t.Errorf("ciChecks names %s, which is not in %s/ci: %v", name, chartDir, err)
		}
	}
}

// TestChartRendersValues checks single values that the ci files leave at
// their defaults.
func TestChartRendersValues(t *testing.T) {
	tool(t, helmBin)
	cases := map[string]struct {
		set   []string
		check func(t *testing.T, r rendering)
	}{
		"a single replica gets no PodDisruptionBudget (it would block every drain)": {
			set: []string{"replicaCount=1"},
			check: func(t *testing.T, r rendering) {
				if pdbs := r.ofKind("PodDisruptionBudget"); len(pdbs) > 0 {
					t.Error("a PodDisruptionBudget is rendered for one replica")
				}
			},
		},
		"webhook timeouts come from values": {
			set: []string{"webhook.gate.timeoutSeconds=2", "webhook.lint.timeoutSeconds=1", "webhook.mutate.timeoutSeconds=4"},
			check: func(t *testing.T, r rendering) {
				for _, w := range webhooks(t, r) {
					name := w["name"].(string)
					want := map[string]int{"gate": 2, "lint": 1, "mutate": 4}[strings.SplitN(name, "-", 2)[0]]
					equal(t, name+" timeoutSeconds", w["timeoutSeconds"], want)
				}
			},
		},
		"another release name renames every object and the certificate's DNS names": {
			set: []string{"fullnameOverride=cg"},
			check: func(t *testing.T, r rendering) {
				for _, key := range r.keys() {
					if name := r[key].GetName(); !strings.HasPrefix(name, "cg") {
						t.Errorf("%s is not named after fullnameOverride", key)
					}
				}
				dns, _ := field(r.get(t, "Certificate/"+namespace+"/cg-serving").Object, "spec", "dnsNames")
				equal(t, "dnsNames", dns, []string{"cg." + namespace + ".svc", "cg." + namespace + ".svc.cluster.local"})
				for _, w := range webhooks(t, rendering{
					"ValidatingWebhookConfiguration//canarygate-validating": r.get(t, "ValidatingWebhookConfiguration//cg-validating"),
					"MutatingWebhookConfiguration//canarygate-mutating":     r.get(t, "MutatingWebhookConfiguration//cg-mutating"),
				}) {
					svc, _ := field(w, "clientConfig", "service", "name")
					equal(t, w["name"].(string)+" service", svc, "cg")
				}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var flags []string
			for _, s := range tc.set {
				flags = append(flags, "--set", s)
			}
			tc.check(t, mustHelmTemplate(t, flags...))
		})
	}
}

// TestChartRejectsBadValues checks that values.schema.json and the chart's
// own checks refuse values that would install a broken webhook, with a
// message naming the problem.
func TestChartRejectsBadValues(t *testing.T) {
	tool(t, helmBin)
	cases := map[string]struct {
		flags []string
		want  string
	}{
		"a failure policy other than Fail or Ignore": {
			flags: []string{"--set", "webhook.gate.failurePolicy=Sometimes"}, want: "/webhook/gate/failurePolicy",
		},
		"a misspelt top-level value": {
			flags: []string{"--set", "replicas=3"}, want: "additional properties 'replicas' not allowed",
		},
		"a webhook timeout the API server refuses": {
			flags: []string{"--set", "webhook.lint.timeoutSeconds=31"}, want: "/webhook/lint/timeoutSeconds",
		},
		"an unknown log level": {
			flags: []string{"--set", "logLevel=trace"}, want: "/logLevel",
		},
		"an empty list of ingress classes": {
			flags: []string{"--set-json", "ingressClasses=[]"}, want: "minItems",
		},
		"a required value removed": {
			flags: []string{"--set", "ingressClasses=null"}, want: "missing property 'ingressClasses'",
		},
		"a webhook's settings removed": {
			flags: []string{"--set", "webhook.gate=null"}, want: "missing property 'gate'",
		},
		"cert-manager off without a certificate": {
			flags: []string{"--set", "certManager.enabled=false"}, want: "/tls/secretName",
		},
		"cert-manager off with a CA bundle that is not PEM": {
			flags: []string{"--set", "certManager.enabled=false", "--set", "tls.secretName=serving", "--set", "tls.caBundle=bm90IGEgY2VydGlmaWNhdGU="},
			want:  "does not decode to a -----BEGIN CERTIFICATE----- block",
		},
		"a TLS secret while cert-manager issues the certificate": {
			flags: []string{"--set", "tls.secretName=serving"}, want: "only with certManager.enabled=false",
		},
		"an issuer kind cert-manager does not have": {
			flags: []string{"--set", "certManager.issuerRef.kind=Vault", "--set", "certManager.issuerRef.name=vault"}, want: "/certManager/issuerRef/kind",
		},
		"an enforcement that is not deny, warn or dryrun": {
			flags: []string{"--set", "policyData.enforcement.CG204=block"}, want: "/policyData/enforcement/CG204",
		},
		"policy data outside settings, enforcement and profiles": {
			flags: []string{"--set", "policyData.max_unverified_weight=20"}, want: "additional properties 'max_unverified_weight' not allowed",
		},
		"the same policy ConfigMap twice": {
			flags: []string{"--set", "policies[0].configMap=p", "--set", "policies[1].configMap=p"}, want: `ConfigMap "p" is listed twice`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := helmTemplate(t, tc.flags...)
			if err == nil {
				t.Fatalf("rendered with %s; want an error mentioning %q:\n%s", strings.Join(tc.flags, " "), tc.want, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}
