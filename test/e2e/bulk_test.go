//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A bulk apply (GitOps, `kubectl apply -f dir`) sends objects in file order,
// so the canary Ingress may arrive before everything it depends on.
var _ = Describe("the whole labelled release applied in one kubectl apply", func() {
	It("ends with the injected strategy on a canary that was never a main route, whatever the file order", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		dir := GinkgoT().TempDir()
		// Alphabetical order: the canary first, then the main Ingress,
		// the Services, and the InferenceServices last.
		copyFixture(dir, ns, "labels/03-canary-ingress.yaml", "00-canary-ingress.yaml")
		copyFixture(dir, ns, "scenario/02-ingress.yaml", "01-ingress.yaml")
		copyFixture(dir, ns, "scenario/01-services.yaml", "02-services.yaml")
		copyFixture(dir, ns, "scenario/00-isvc-model-v1.yaml", "03-isvc-model-v1.yaml")
		copyFixture(dir, ns, "labels/03a-isvc-model-v2.yaml", "03a-isvc-model-v2.yaml")

		r := kubectl(ctx, "apply", "-n", ns, "-f", dir)
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(Equal("ingress.networking.k8s.io/gray-release-canary created\n" +
			"ingress.networking.k8s.io/model-ingress created\n" +
			"service/model-svc created\n" +
			"service/model-v2-svc created\n" +
			"inferenceservice.serving.kserve.io/model-v1 created\n" +
			"inferenceservice.serving.kserve.io/model-v2 created\n"))
		// The canary came first, so it had no main route yet (a warning);
		// it was never taken for a second main route.
		Expect(r.Stderr).To(ContainSubstring("Warning: [CG204] Ingress " + ns + "/gray-release-canary"))
		Expect(r.Stderr).NotTo(ContainSubstring("CG202"))

		Eventually(ctx, canaryStrategy(ctx, ns)).WithTimeout(30 * time.Second).Should(Equal(map[string]string{
			"nginx.ingress.kubernetes.io/canary":                 "true",
			"nginx.ingress.kubernetes.io/canary-by-header":       "foo",
			"nginx.ingress.kubernetes.io/canary-by-header-value": "bar",
		}))
		Expect(annotations(ctx, ns, "ingress/gray-release-canary")).To(HaveKeyWithValue("canarygate.io/source", "model-v2"))
		Expect(annotations(ctx, ns, "ingress/model-ingress")).NotTo(HaveKey("nginx.ingress.kubernetes.io/canary"))
	})
})
