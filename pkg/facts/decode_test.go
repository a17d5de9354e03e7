package facts_test

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
)

func TestGoverned(t *testing.T) {
	tests := map[string]struct {
		gk   schema.GroupKind
		want bool
	}{
		"Service":                         {gk: facts.ServiceKind, want: true},
		"Ingress":                         {gk: facts.IngressKind, want: true},
		"InferenceService":                {gk: facts.InferenceServiceKind, want: true},
		"Namespace is read, not governed": {gk: facts.NamespaceKind, want: false},
		"an Ingress of another group":     {gk: schema.GroupKind{Group: "extensions", Kind: "Ingress"}, want: false},
		"a ConfigMap":                     {gk: schema.GroupKind{Kind: "ConfigMap"}, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := facts.Governed(tc.gk); got != tc.want {
				t.Errorf("Governed(%v) = %v, want %v", tc.gk, got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		obj     map[string]any
		check   func(t *testing.T, got any)
		wantErr string // substring of the error; "" for none
	}{
		"a Service": {
			obj: map[string]any{
				"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]any{"name": "model-svc", "namespace": "default"},
				"spec": map[string]any{
					"selector": map[string]any{"serving.kserve.io/inferenceservice": "model-v1"},
					"ports":    []any{map[string]any{"port": int64(80), "targetPort": int64(8080)}},
				},
			},
			check: func(t *testing.T, got any) {
				svc, ok := got.(*corev1.Service)
				if !ok {
					t.Fatalf("Decode() = %T, want *corev1.Service", got)
				}
				if facts.ServiceTarget(svc) != "model-v1" || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 || svc.Namespace != "default" {
					t.Errorf("decoded Service = %+v", svc)
				}
			},
		},
		"an Ingress": {
			obj: map[string]any{
				"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
				"metadata": map[string]any{
					"name": "gray-release-canary", "namespace": "default",
					"annotations": map[string]any{"nginx.ingress.kubernetes.io/canary": "true"},
				},
				"spec": map[string]any{"rules": []any{map[string]any{
					"host": "model.example.com",
					"http": map[string]any{"paths": []any{map[string]any{
						"path": "/", "pathType": "ImplementationSpecific",
						"backend": map[string]any{"service": map[string]any{"name": "model-v2-svc", "port": map[string]any{"number": int64(80)}}},
					}}},
				}}},
			},
			check: func(t *testing.T, got any) {
				ing, ok := got.(*networkingv1.Ingress)
				if !ok {
					t.Fatalf("Decode() = %T, want *networkingv1.Ingress", got)
				}
				if !facts.IsCanary(ing) || !reflect.DeepEqual(facts.Backends(ing), []string{"model-v2-svc"}) {
					t.Errorf("decoded Ingress = %+v", ing)
				}
			},
		},
		"an InferenceService keeps its spec and reads its status": {
			obj: map[string]any{
				"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
				"metadata": map[string]any{"name": "model-v2", "namespace": "default", "generation": int64(2)},
				"spec":     map[string]any{"predictor": map[string]any{"model": map[string]any{"modelFormat": map[string]any{"name": "sklearn"}}}},
				"status": map[string]any{
					"observedGeneration": int64(2),
					"conditions":         []any{map[string]any{"type": "Ready", "status": "True"}},
				},
			},
			check: func(t *testing.T, got any) {
				is, ok := got.(*kserve.InferenceService)
				if !ok {
					t.Fatalf("Decode() = %T, want *kserve.InferenceService", got)
				}
				if !is.Ready() || is.Generation != 2 || !strings.Contains(string(is.Spec), `"sklearn"`) {
					t.Errorf("decoded InferenceService = %+v (spec %s)", is, is.Spec)
				}
			},
		},
		"a Namespace": {
			obj: map[string]any{
				"apiVersion": "v1", "kind": "Namespace",
				"metadata": map[string]any{"name": "team", "labels": map[string]any{"canarygate.io/profile": "strict"}},
			},
			check: func(t *testing.T, got any) {
				n, ok := got.(*corev1.Namespace)
				if !ok {
					t.Fatalf("Decode() = %T, want *corev1.Namespace", got)
				}
				if n.Name != "team" || n.Labels["canarygate.io/profile"] != "strict" {
					t.Errorf("decoded Namespace = %+v", n)
				}
			},
		},
		"another kind decodes to nothing": {
			obj: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}},
			check: func(t *testing.T, got any) {
				if got != nil {
					t.Errorf("Decode() = %v, want nil", got)
				}
			},
		},
		"an Ingress of a group canarygate does not govern decodes to nothing": {
			obj: map[string]any{"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": map[string]any{"name": "i"}},
			check: func(t *testing.T, got any) {
				if got != nil {
					t.Errorf("Decode() = %v, want nil", got)
				}
			},
		},
		"spec.ports as a string is a schema mismatch naming the field": {
			obj: map[string]any{
				"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]any{"name": "model-svc"},
				"spec":     map[string]any{"ports": "80"},
			},
			wantErr: "spec.ports",
		},
		"Ingress rules as an object is a schema mismatch": {
			obj: map[string]any{
				"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
				"metadata": map[string]any{"name": "bad"},
				"spec":     map[string]any{"rules": map[string]any{"host": "x"}},
			},
			wantErr: "Ingress bad does not match the Ingress schema",
		},
		"an InferenceService with a string generation is a schema mismatch": {
			obj: map[string]any{
				"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
				"metadata": map[string]any{"name": "model-v2", "generation": "two"},
			},
			wantErr: "metadata.generation",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := facts.Decode(&unstructured.Unstructured{Object: tc.obj})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			tc.check(t, got)
		})
	}
}

func TestDecodeNil(t *testing.T) {
	got, err := facts.Decode(nil)
	if got != nil || err != nil {
		t.Errorf("Decode(nil) = %v, %v; want nil, nil", got, err)
	}
}

func TestDecodeThenPut(t *testing.T) {
	// Decoded objects go straight into a Set.
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "model-svc", "namespace": "default"},
		"spec":     map[string]any{"selector": map[string]any{"app": "isvc.model-v1-predictor"}},
	}}
	obj, err := facts.Decode(u)
	if err != nil {
		t.Fatal(err)
	}
	set := facts.NewSet(nil)
	set.Put(obj)
	got, _ := set.ServicesSelecting(t.Context(), "default", "model-v1")
	if n := names(got); !reflect.DeepEqual(n, []string{"default/model-svc"}) {
		t.Errorf("ServicesSelecting after Decode+Put = %v", n)
	}
}
