//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/canarygate/canarygate/test/harness"
)

// readyz returns the status and body of a readiness URL.
func readyz(url string) (int, string) {
	GinkgoHelper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

const modelService = `apiVersion: v1
kind: Service
metadata:
  name: model-svc
spec:
  selector:
    serving.kserve.io/inferenceservice: model-v1
  ports:
  - port: 80
    targetPort: 8080
`

var _ = Describe("a cluster without the InferenceService CRD", Serial, func() {
	It("keeps canarygate not ready, naming the missing CRD, until the CRD is installed", func(ctx SpecContext) {
		bare := ownControlPlane(ctx, harness.Options{NoInferenceServiceCRD: true})

		Eventually(func(g Gomega) {
			code, body := readyz(bare.ReadyURL + "?verbose")
			g.Expect(code).To(Equal(http.StatusInternalServerError))
			g.Expect(body).To(ContainSubstring("[-]caches failed"))
			// The aggregated endpoint withholds reasons; the check's own
			// path gives the detail.
			code, body = readyz(bare.ReadyURL + "/caches")
			g.Expect(code).To(Equal(http.StatusInternalServerError))
			g.Expect(body).To(ContainSubstring("the InferenceService CRD (serving.kserve.io/v1beta1) is not installed"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		// Meanwhile writes the gate does not cover proceed, and the gate
		// fails closed on the ones it does, saying why.
		r := bare.Run(ctx, "", "create", "service", "clusterip", "probe", "--tcp=80:8080")
		Expect(r.Code).To(Equal(0), r.Output())
		r = bare.Run(ctx, modelService, "apply", "-f", "-")
		Expect(r.Code).NotTo(Equal(0))
		Expect(r.Stderr).To(ContainSubstring("the InferenceService CRD (serving.kserve.io/v1beta1) is not installed"))
		Expect(r.Stderr).To(ContainSubstring("the gate denies rather than guesses"))

		r = bare.Run(ctx, "", "apply", "-f", filepath.Join(bare.Root, "test", "crds"))
		Expect(r.Code).To(Equal(0), r.Output())
		Eventually(func(g Gomega) {
			code, body := readyz(bare.ReadyURL)
			g.Expect(code).To(Equal(http.StatusOK), body)
		}).WithContext(ctx).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
		r = bare.Run(ctx, modelService, "apply", "-f", "-")
		Expect(r.Code).To(Equal(0), r.Output())
	}, NodeTimeout(5*time.Minute))
})
