package scenario_test

import (
	"testing"

	"github.com/canarygate/canarygate/pkg/canary"
)

// These replays pin the gate against multi-step ways around it: each step
// alone looks harmless, the sequence would make an unverified
// InferenceService the primary.
func TestMultiStepSwitchesAreGated(t *testing.T) {
	t.Run("a Service parked on a non-model selector is not a first deployment when it returns", func(t *testing.T) {
		c := release(t)
		svc := c.get(svcMain)
		if err := setNested(svc.Object, map[string]any{"app": "parked"}, "spec", "selector"); err != nil {
			t.Fatal(err)
		}
		mustAllow(t, "park model-svc", c.apply(false, c.inputFile(svc)))
		if got := c.get(svcMain).GetAnnotations()[canary.StampPreviousISVC]; got != "model-v1" {
			t.Fatalf("parking did not record the previous primary: %q", got)
		}
		svc = c.get(svcMain)
		if err := setNested(svc.Object, map[string]any{canary.LabelInferenceService: "model-v2"}, "spec", "selector"); err != nil {
			t.Fatal(err)
		}
		mustDeny(t, "unpark onto unverified model-v2", c.run(false, c.inputFile(svc)), "Service", "model-svc", "CG301")
	})

	t.Run("a Service created under a full-weight canary is judged as the route's switch", func(t *testing.T) {
		c := newCluster(t)
		c.seed("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml")
		mustAllow(t, "step 1", c.apply(false, "01-services.yaml"))
		mustAllow(t, "step 2", c.apply(false, "02-ingress.yaml"))
		ing := c.get(ingMain)
		ing.SetName("gray-release-canary")
		ing.SetAnnotations(map[string]string{canary.NginxCanary: "true", canary.NginxWeight: "100"})
		ing.SetResourceVersion("")
		ing.SetUID("")
		rules, _, _ := unstructuredSlice(ing.Object, "spec", "rules")
		paths := rules[0].(map[string]any)["http"].(map[string]any)["paths"].([]any)
		paths[0].(map[string]any)["backend"].(map[string]any)["service"].(map[string]any)["name"] = "pending-svc"
		if err := setNested(ing.Object, rules, "spec", "rules"); err != nil {
			t.Fatal(err)
		}
		mustAllow(t, "a full-weight canary towards a Service that does not exist yet", c.apply(false, c.inputFile(ing)))

		svc := c.get(svcV2)
		svc.SetName("pending-svc")
		svc.SetResourceVersion("")
		svc.SetUID("")
		r := c.run(false, c.inputFile(svc))
		mustDeny(t, "the Service that makes unverified model-v2 the route's primary", r, "Service", "pending-svc", "CG301")
		mustDeny(t, "and exposes it at full weight", r, "Service", "pending-svc", "CG302")
	})

	t.Run("forged rollback stamps on a canary Ingress are removed", func(t *testing.T) {
		c := release(t)
		ing := c.get(ingCanary)
		ann := ing.GetAnnotations()
		ann[canary.StampPreviousISVC] = "model-v2"
		ann[canary.StampPreviousGeneration] = "1"
		ing.SetAnnotations(ann)
		r := c.run(false, c.inputFile(ing))
		res := result(t, r, "Ingress", "gray-release-canary")
		if _, kept := res.Object.GetAnnotations()[canary.StampPreviousISVC]; kept {
			t.Fatalf("a forged previous-isvc survived mutation: %v", res.Object.GetAnnotations())
		}
		if _, w := codes(r, "Ingress", "gray-release-canary"); len(w) == 0 {
			t.Fatal("the replaced stamp was not reported")
		}
	})

	t.Run("moving the main route away while its canary exists is denied", func(t *testing.T) {
		c := release(t)
		ing := c.get(ingMain)
		rules, _, _ := unstructuredSlice(ing.Object, "spec", "rules")
		rules[0].(map[string]any)["host"] = "elsewhere.example.com"
		if err := setNested(ing.Object, rules, "spec", "rules"); err != nil {
			t.Fatal(err)
		}
		mustDeny(t, "move model-ingress to another host", c.run(false, c.inputFile(ing)), "Ingress", "model-ingress", "CG503")
	})
}
