// Package scenario_test replays canarygate's reference release (DESIGN §1)
// step by step through the check pipeline, carrying the cluster state from
// step to step, and asserts each step's decision.
package scenario_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/canarygate/canarygate/pkg/canary"
)

const (
	isvcV1    = "InferenceService/default/model-v1"
	isvcV2    = "InferenceService/default/model-v2"
	svcMain   = "Service/default/model-svc"
	svcV2     = "Service/default/model-v2-svc"
	ingMain   = "Ingress/default/model-ingress"
	ingCanary = "Ingress/default/gray-release-canary"
)

// release brings the cluster to step 3b of the reference scenario: both
// InferenceServices Ready, model-v1 verified (it is the stable version),
// Services, main Ingress, and the weighted canary.
func release(t *testing.T) *cluster {
	t.Helper()
	c := newCluster(t)
	c.seed("00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml")
	mustAllow(t, "step 1: Services", c.apply(false, "01-services.yaml"))
	mustAllow(t, "step 2: main Ingress", c.apply(false, "02-ingress.yaml"))
	mustAllow(t, "step 3a: canary by header", c.apply(false, "03a-canary-header.yaml"))
	mustAllow(t, "step 3b: canary by weight", c.apply(false, "03b-canary-weight.yaml"))
	return c
}

// verify plays `kubectl annotate isvc model-v2 canarygate.io/verified=true`.
func verify(t *testing.T, c *cluster) {
	t.Helper()
	v2 := c.get(isvcV2)
	ann := v2.GetAnnotations()
	ann[canary.KeyVerified] = "true"
	v2.SetAnnotations(ann)
	mustAllow(t, "verify model-v2", c.apply(false, c.inputFile(v2)))
}

func TestReferenceScenario(t *testing.T) {
	t.Run("steps 1 to 3b are allowed and the canary Ingress is stamped", func(t *testing.T) {
		c := release(t)
		ing := c.get(ingCanary)
		if got := ing.GetAnnotations()[canary.StampCanarySince]; got == "" {
			t.Fatalf("canary-since stamp missing: %v", ing.GetAnnotations())
		}
		if got := ing.GetAnnotations()[canary.NginxWeight]; got != "20" {
			t.Fatalf("canary-weight = %q, want 20", got)
		}
	})

	t.Run("step 4 is denied while model-v2 is not Ready", func(t *testing.T) {
		c := release(t)
		v2 := c.get(isvcV2)
		conds, _, _ := unstructuredSlice(v2.Object, "status", "conditions")
		for _, cond := range conds {
			m := cond.(map[string]any)
			if m["type"] == "Ready" {
				m["status"] = "False"
			}
		}
		c.objects[isvcV2] = v2
		mustDeny(t, "step 4", c.run(false, "04-switch.yaml"), "Service", "model-svc", "CG301")
	})

	t.Run("step 4 is denied until model-v2 is verified, then allowed", func(t *testing.T) {
		c := release(t)
		mustDeny(t, "step 4 before verification", c.run(false, "04-switch.yaml"), "Service", "model-svc", "CG301")
		verify(t, c)
		v2 := c.get(isvcV2)
		ann := v2.GetAnnotations()
		if ann[canary.StampVerifiedBy] != "alice" || ann[canary.StampVerifiedGeneration] != "1" || ann[canary.StampVerifiedAt] == "" {
			t.Fatalf("verification stamps not written: %v", ann)
		}
		r := c.apply(false, "04-switch.yaml")
		mustAllow(t, "step 4 after verification", r)
		svc := c.get(svcMain)
		if got := svc.GetAnnotations()[canary.StampPreviousISVC]; got != "model-v1" {
			t.Fatalf("previous-isvc = %q, want model-v1", got)
		}
	})

	t.Run("a spec change after verification makes it stale", func(t *testing.T) {
		c := release(t)
		verify(t, c)
		v2 := c.get(isvcV2)
		if err := setNested(v2.Object, "gs://kfserving-examples/models/sklearn/1.0/model-3", "spec", "predictor", "model", "storageUri"); err != nil {
			t.Fatal(err)
		}
		mustAllow(t, "spec change", c.apply(false, c.inputFile(v2)))
		if g := c.get(isvcV2).GetGeneration(); g != 2 {
			t.Fatalf("generation = %d after a spec change, want 2", g)
		}
		// KServe reconciles the new generation.
		v2 = c.get(isvcV2)
		if err := setNested(v2.Object, int64(2), "status", "observedGeneration"); err != nil {
			t.Fatal(err)
		}
		c.objects[isvcV2] = v2
		r := c.run(false, "04-switch.yaml")
		mustDeny(t, "step 4 with a stale verification", r, "Service", "model-svc", "CG301")
		if msg := result(t, r, "Service", "model-svc").Violations[0].Message; !strings.Contains(msg, "verified at generation \"1\" but is now at generation 2") {
			t.Fatalf("the denial does not say the verification is stale: %s", msg)
		}

		// Re-verify: remove the key, then set it again.
		v2 = c.get(isvcV2)
		ann := v2.GetAnnotations()
		delete(ann, canary.KeyVerified)
		v2.SetAnnotations(ann)
		mustAllow(t, "unverify", c.apply(false, c.inputFile(v2)))
		verify(t, c)
		if got := c.get(isvcV2).GetAnnotations()[canary.StampVerifiedGeneration]; got != "2" {
			t.Fatalf("verified-generation = %q after re-verifying, want 2", got)
		}
		mustAllow(t, "step 4 after re-verification", c.apply(false, "04-switch.yaml"))
	})

	t.Run("a forged verification stamp is denied", func(t *testing.T) {
		c := release(t)
		v2 := c.get(isvcV2)
		ann := v2.GetAnnotations()
		ann[canary.StampVerifiedGeneration] = "1"
		ann[canary.StampVerifiedBy] = "mallory"
		v2.SetAnnotations(ann)
		// Mutation restores the stamps; the gate re-checks what the
		// mutation left, so the forged values never reach the cluster.
		r := c.run(false, c.inputFile(v2))
		res := result(t, r, "InferenceService", "model-v2")
		if _, forged := res.Object.GetAnnotations()[canary.StampVerifiedBy]; forged {
			t.Fatalf("forged verified-by survived mutation: %v", res.Object.GetAnnotations())
		}
		mustDeny(t, "step 4 on a forged stamp", c.run(false, "04-switch.yaml"), "Service", "model-svc", "CG301")
	})

	t.Run("step 5 is allowed in the listed order", func(t *testing.T) {
		c := release(t)
		verify(t, c)
		mustAllow(t, "step 4", c.apply(false, "04-switch.yaml"))
		mustAllow(t, "delete the canary Ingress", c.apply(true, c.everythingBut(ingCanary)))
		mustAllow(t, "delete model-v1", c.apply(true, c.everythingBut(isvcV1)))
		mustAllow(t, "delete model-v2-svc", c.apply(true, c.everythingBut(svcV2)))
		for _, k := range []string{ingCanary, isvcV1, svcV2} {
			if _, ok := c.objects[k]; ok {
				t.Fatalf("%s still exists after cleanup", k)
			}
		}
	})

	t.Run("step 5 is denied in an order that would drop traffic", func(t *testing.T) {
		c := release(t)
		mustDeny(t, "delete model-v2-svc while the canary routes to it",
			c.run(true, c.everythingBut(svcV2)), "Service", "model-v2-svc", "CG502")
		mustDeny(t, "delete model-v1 while model-svc selects it",
			c.run(true, c.everythingBut(isvcV1)), "InferenceService", "model-v1", "CG501")
		mustDeny(t, "delete the main Ingress while its canary exists",
			c.run(true, c.everythingBut(ingMain)), "Ingress", "model-ingress", "CG503")
	})
}

func TestLabelDeclaredCanary(t *testing.T) {
	want3a := seedAnnotations(t, "03a-canary-header.yaml")
	want3b := seedAnnotations(t, "03b-canary-weight.yaml")

	c := newCluster(t)
	c.seed("00-isvc-model-v1.yaml")
	c.seed("../labels/03a-isvc-model-v2.yaml")
	mustAllow(t, "step 1", c.apply(false, "01-services.yaml"))
	mustAllow(t, "step 2", c.apply(false, "02-ingress.yaml"))

	r := c.apply(false, "../labels/03-canary-ingress.yaml")
	mustAllow(t, "step 3a by labels", r)
	if got := strategy(c.get(ingCanary).GetAnnotations()); !maps.Equal(got, want3a) {
		t.Fatalf("step 3a: injected %v, want the seed's %v", got, want3a)
	}
	if src := c.get(ingCanary).GetAnnotations()[canary.StampSource]; src != "model-v2" {
		t.Fatalf("source stamp = %q, want model-v2", src)
	}

	// Step 3b: the weight changes on the InferenceService (an annotation,
	// so the pods do not restart); the Ingress is re-applied unchanged and
	// takes the new strategy.
	mustAllow(t, "step 3b: weight on the InferenceService", c.apply(false, "../labels/03b-isvc-model-v2.yaml"))
	mustAllow(t, "step 3b: canary re-applied", c.apply(false, "../labels/03-canary-ingress.yaml"))
	if got := strategy(c.get(ingCanary).GetAnnotations()); !maps.Equal(got, want3b) {
		t.Fatalf("step 3b: injected %v, want the seed's %v", got, want3b)
	}

	// Mutating the already-mutated object yields no patch.
	again := c.run(false, c.inputFile(c.get(ingCanary)))
	if res := result(t, again, "Ingress", "gray-release-canary"); len(res.Patch) != 0 {
		t.Fatalf("re-mutation produced a patch: %+v", res.Patch)
	}
}

// strategy keeps the nginx canary annotations of a set.
func strategy(ann map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range canary.NginxCanaryKeys {
		if v, ok := ann[k]; ok {
			out[k] = v
		}
	}
	return out
}

func seedAnnotations(t *testing.T, file string) map[string]string {
	t.Helper()
	c := newCluster(t)
	c.seed(file)
	return strategy(c.get(ingCanary).GetAnnotations())
}
