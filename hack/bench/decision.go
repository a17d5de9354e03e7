package main

import (
	"context"
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/validate"
	"github.com/canarygate/canarygate/test/benchfacts"
)

// decisionCase is one request of the decision benchmark.
type decisionCase struct {
	Name     string
	Op       string
	Obj, Old *unstructured.Unstructured
}

// decisionCases are the benchmark's three requests: a canary Ingress
// create, a Service switch, and an InferenceService canary-key update.
func decisionCases() ([]decisionCase, error) {
	oldSvc := benchfacts.ModelService("team-042", "model-3-svc-0", "model-3")
	newSvc := oldSvc.DeepCopy()
	newSvc.Spec.Selector[canary.LabelInferenceService] = "model-4"
	canaryIng := benchfacts.Ingress("team-042", "model-3-canary", "model-3-0.team-042.example.com", "model-4-svc-1",
		map[string]string{canary.NginxCanary: "true", canary.NginxWeight: "20"})
	oldISVC := benchfacts.ReadyISVC("team-042", "model-4", 1)
	newISVC := oldISVC.DeepCopy()
	newISVC.Annotations = map[string]string{canary.KeyStable: "model-3", canary.KeyWeight: "30"}

	var out []decisionCase
	for _, c := range []struct {
		name, op string
		obj, old any
	}{
		{"canary Ingress create", "CREATE", canaryIng, nil},
		{"Service switch", "UPDATE", newSvc, oldSvc},
		{"InferenceService update", "UPDATE", newISVC, oldISVC},
	} {
		obj, err := toUnstructured(c.obj)
		if err != nil {
			return nil, err
		}
		old, err := toUnstructured(c.old)
		if err != nil {
			return nil, err
		}
		out = append(out, decisionCase{Name: c.name, Op: c.op, Obj: obj, Old: old})
	}
	return out, nil
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, nil
	}
	if r, ok := obj.(runtime.Object); ok && r.GetObjectKind().GroupVersionKind().Kind != "" {
		if _, isISVC := obj.(*kserve.InferenceService); !isISVC {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return nil, err
			}
			return &unstructured.Unstructured{Object: m}, nil
		}
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	return u, u.UnmarshalJSON(raw)
}

// inputFor builds the policy input of a case the way the webhook's gate
// does: the facts before, and the facts with the request applied.
func inputFor(ctx context.Context, set *facts.Set, c decisionCase, now time.Time) (*validate.Input, error) {
	typed, err := facts.Decode(c.Obj)
	if err != nil {
		return nil, err
	}
	after := facts.Overlay{Base: set, Classes: set.Classes(), Put: typed}
	b := validate.Builder{Classes: set.Classes()}
	return b.Build(ctx, validate.Request{
		UID: "bench", Operation: c.Op, Kind: c.Obj.GroupVersionKind(),
		Namespace: c.Obj.GetNamespace(), Name: c.Obj.GetName(),
		Object: c.Obj, OldObject: c.Old, User: "bench",
	}, set, after, now)
}
